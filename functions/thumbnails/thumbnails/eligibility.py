"""Which archive frames the service makes thumbnails of: the old service's rules and messages.

The rules, their order and their reason messages are those of the thumbnail service we
replace (``can_generate_thumbnail_on``), so clients that show or match the reason keep
working. Its three settings keep their names and defaults (see `thumbnails.settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import FrameNotEligible
from .settings import Settings

#: File name endings of the frames the service renders (as the old service: case-sensitive).
FITS_ENDINGS = (".fits", ".fits.fz")


@dataclass(frozen=True)
class EligibilityRules:
    """The configurable part of the rules.

    Parameters
    ----------
    required_keys : tuple of str
        Record fields that must be present (``REQUIRED_FRAME_VALIDATION_KEYS``).
    valid_types : tuple of str
        Configuration types thumbnails are made of (``VALID_CONFIGURATION_TYPES``).
    valid_color_types : tuple of str
        Configuration types colour thumbnails are made of
        (``VALID_CONFIGURATION_TYPES_FOR_COLOR_THUMBS``).
    """

    required_keys: tuple[str, ...]
    valid_types: tuple[str, ...]
    valid_color_types: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> EligibilityRules:
        """The rules configured in `settings`."""
        return cls(
            required_keys=settings.required_frame_validation_keys,
            valid_types=settings.valid_configuration_types,
            valid_color_types=settings.valid_configuration_types_for_color,
        )


def check_eligible(frame: Mapping[str, object], rules: EligibilityRules, *, color: bool) -> None:
    """Raise unless a thumbnail (a colour one if `color`) may be made of `frame`.

    Parameters
    ----------
    frame : mapping
        The archive record (``configuration_type``, ``request_id``, ``filename``, ...).
    rules : EligibilityRules
    color : bool
        Whether a colour composite is asked for.

    Raises
    ------
    FrameNotEligible
        With the old service's reason, checked in its order: required fields, configuration
        type, colour without a request, configuration type for colour, not a FITS file.
    """
    if not all(key in frame for key in rules.required_keys):
        raise FrameNotEligible("Cannot generate thumbnail for given frame")

    # A field may be present but null; the old service crashed on that, we refuse politely.
    configuration_type = str(frame.get("configuration_type") or "").upper()
    request_id = frame.get("request_id")
    filename = frame.get("filename")
    is_fits_file = isinstance(filename, str) and filename.endswith(FITS_ENDINGS)

    if configuration_type not in _upper(rules.valid_types):
        raise FrameNotEligible(
            f"Cannot generate thumbnail for configuration_type={configuration_type}"
        )
    if color and not request_id:
        raise FrameNotEligible(
            "Cannot generate color thumbnail for a frame that does not have a request"
        )
    if color and configuration_type not in _upper(rules.valid_color_types):
        raise FrameNotEligible(
            f"Cannot generate color thumbnail for configuration_type={configuration_type}"
        )
    if not is_fits_file:
        raise FrameNotEligible("Cannot generate thumbnail for non FITS-type frame")


def _upper(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(value.upper() for value in values)
