"""Frame eligibility: the old service's rules, their order, settings and reason messages."""

from __future__ import annotations

import pytest

from tests.support.api_support import frame_record
from thumbnails.eligibility import EligibilityRules, check_eligible
from thumbnails.errors import FrameNotEligible
from thumbnails.settings import Settings

DEFAULT = EligibilityRules.from_settings(Settings.from_env({}))


def _reason(frame: dict, *, color: bool = False, rules: EligibilityRules = DEFAULT) -> str:
    with pytest.raises(FrameNotEligible) as raised:
        check_eligible(frame, rules, color=color)
    assert raised.value.status == 400
    return raised.value.message


@pytest.mark.parametrize("suffix", [".fits", ".fits.fz"])
@pytest.mark.parametrize("color", [False, True])
def test_an_exposure_in_fits_is_eligible_grey_or_colour(suffix, color):
    check_eligible(frame_record(suffix=suffix), DEFAULT, color=color)


@pytest.mark.parametrize("key", ["configuration_type", "request_id", "filename"])
def test_every_required_key_must_be_present(key):
    frame = frame_record()
    del frame[key]
    assert _reason(frame) == "Cannot generate thumbnail for given frame"


def test_required_keys_follow_the_setting():
    rules = EligibilityRules.from_settings(
        Settings.from_env({"REQUIRED_FRAME_VALIDATION_KEYS": "configuration_type,filename,site_id"})
    )
    frame = frame_record()
    del frame["request_id"]
    check_eligible(frame, rules, color=False)
    del frame["site_id"]
    assert _reason(frame, rules=rules) == "Cannot generate thumbnail for given frame"


@pytest.mark.parametrize(
    "ctype",
    [
        "ARC",
        "BIAS",
        "BPM",
        "DARK",
        "DOUBLE",
        "EXPERIMENTAL",
        "EXPOSE",
        "GUIDE",
        "LAMPFLAT",
        "SKYFLAT",
        "SPECTRUM",
        "STANDARD",
        "TARGET",
        "TRAILED",
        "expose",
    ],
)
def test_the_old_services_configuration_types_are_eligible(ctype):
    check_eligible(frame_record(configuration_type=ctype), DEFAULT, color=False)


@pytest.mark.parametrize(
    "ctype, shown", [("SCRIPT", "SCRIPT"), ("nres_spectrum", "NRES_SPECTRUM"), (None, "")]
)
def test_other_configuration_types_are_refused_by_name(ctype, shown):
    reason = _reason(frame_record(configuration_type=ctype))
    assert reason == f"Cannot generate thumbnail for configuration_type={shown}"


@pytest.mark.parametrize("request_id", [None, 0, ""])
def test_colour_needs_a_request(request_id):
    frame = frame_record(request_id=request_id)
    check_eligible(frame, DEFAULT, color=False)
    assert _reason(frame, color=True) == (
        "Cannot generate color thumbnail for a frame that does not have a request"
    )


@pytest.mark.parametrize("ctype", ["BIAS", "DARK", "SKYFLAT", "GUIDE"])
def test_colour_is_only_for_the_colour_configuration_types(ctype):
    frame = frame_record(configuration_type=ctype)
    check_eligible(frame, DEFAULT, color=False)
    assert (
        _reason(frame, color=True)
        == f"Cannot generate color thumbnail for configuration_type={ctype}"
    )


def test_the_configuration_types_follow_the_settings():
    rules = EligibilityRules.from_settings(
        Settings.from_env(
            {
                "VALID_CONFIGURATION_TYPES": "EXPOSE,BIAS",
                "VALID_CONFIGURATION_TYPES_FOR_COLOR_THUMBS": "BIAS",
            }
        )
    )
    check_eligible(frame_record(configuration_type="BIAS"), rules, color=True)
    assert _reason(frame_record(configuration_type="DARK"), rules=rules).endswith("=DARK")
    assert _reason(frame_record(), color=True, rules=rules).endswith("configuration_type=EXPOSE")


@pytest.mark.parametrize(
    "filename", ["x.fits.gz", "x.tar.gz", "x.FITS", "x.jpg", None, "x.fits.fz.bak"]
)
def test_only_fits_and_fits_fz_files_are_eligible(filename):
    reason = _reason(frame_record(filename=filename))
    assert reason == "Cannot generate thumbnail for non FITS-type frame"


def test_the_rules_are_checked_in_the_old_services_order():
    # Wrong type AND not FITS AND no request: the type is reported first...
    frame = frame_record(configuration_type="SCRIPT", filename="x.txt", request_id=None)
    assert _reason(frame, color=True) == "Cannot generate thumbnail for configuration_type=SCRIPT"
    # ...then the missing request, before the colour type and the file type.
    frame = frame_record(configuration_type="BIAS", filename="x.txt", request_id=None)
    assert _reason(frame, color=True).endswith("does not have a request")
    frame = frame_record(configuration_type="BIAS", filename="x.txt")
    assert (
        _reason(frame, color=True) == "Cannot generate color thumbnail for configuration_type=BIAS"
    )
