"""Header cards: their values read as astropy reads them, without importing astropy.

A FITS header is 80-character cards. `CardHeader` parses the value syntax of astropy's own card
parser for the cards LCO writes; a header with any other card (CONTINUE, HIERARCH, complex or
undefined values, malformed cards...) is handed to astropy whole (`parse_header`), so odd
headers behave exactly as before. That keeps ``astropy.io.fits`` out of the common frame: a
Lambda cold start pays for every import, and that one costs ~0.3 s of CPU, half of a whole cold
render. astropy is imported only when an astropy `Header` is asked for (`astropy_header`).
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from astropy.io import fits


CARD = 80

#: astropy's value syntax (``Card._value_NFSC_RE`` and its parts, astropy 8.0), copied so
#: that a card is read as astropy reads it.
_DIGITS = r"(\.\d+|\d+(\.\d*)?) *([deDE] *[+-]? *\d+)?"

_NUMBER = r"[+-]? *" + _DIGITS

_VALUE = re.compile(
    r"(?P<valu_field> *(?P<valu>"
    r"\'(?P<strg>([ -~]+?|\'\'|) *?)\'(?=$|/| )|"
    r"(?P<bool>[FT])|"
    r"(?P<numr>" + _NUMBER + r")|"
    r"(?P<cplx>\( *(?P<real>" + _NUMBER + r") *, *(?P<imag>" + _NUMBER + r") *\))"
    r")? *)(?P<comm_field>(?P<sepr>/ *)(?P<comm>(.|\n)*))?$"
)

_NUMBER_PARTS = re.compile(rf"(?P<sign>[+-])? *0*?(?P<digt>{_DIGITS})")

_FLOAT_FIX = str.maketrans({"D": "E", "d": "e", " ": None})

#: A string value astropy reads as a record-valued keyword card (``DP1 = 'AXIS.1: 1'``).
_RECORD_VALUE = re.compile(r"[a-zA-Z_]\w*(\.\d+)?(\.[a-zA-Z_]\w*(\.\d+)?)*: +[+-]?[\d.]")

_STANDARD_KEYWORD = re.compile(r"[A-Z0-9_-]{0,8}")

_COMMENTARY = frozenset({"COMMENT", "HISTORY", ""})


class CardHeader:
    """The values of a header's cards, read as astropy reads them, without astropy.

    Only ``get``, ``in`` and ``[]`` (a missing keyword is a `KeyError`, as astropy's): what
    the renderer asks of a header. The first card of a repeated keyword wins, as in astropy.

    Attributes
    ----------
    cards : tuple of str
        The 80-character cards (without END), for `astropy_header`.
    """

    __slots__ = ("_values", "cards")

    def __init__(self, cards: tuple[str, ...], values: dict[str, object]) -> None:
        self.cards = cards
        self._values = values

    def get(self, key: str, default: object = None) -> object:
        return self._values.get(key.upper(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.upper() in self._values

    def __getitem__(self, key: str) -> object:
        try:
            return self._values[key.upper()]
        except KeyError:
            raise KeyError(f"Keyword {key!r} not found.") from None

    def __repr__(self) -> str:
        return "\n".join(self.cards)


def _card_values(cards: Sequence[str]) -> dict[str, object] | None:
    """Keyword -> value of every card, or None if a card is not one `CardHeader` reads."""
    values: dict[str, object] = {}
    for card in cards:
        keyword = card[:8].rstrip()
        if keyword in _COMMENTARY:
            continue
        if len(card) != CARD or card[8:10] != "= " or not _STANDARD_KEYWORD.fullmatch(keyword):
            return None  # CONTINUE, HIERARCH, a card without a value...: astropy's job
        match = _VALUE.match(card[10:])
        if match is None or match.group("valu") is None or match.group("cplx") is not None:
            return None
        if match.group("bool") is not None:
            value: object = match.group("bool") == "T"
        elif match.group("strg") is not None:
            value = match.group("strg").replace("''", "'").rstrip()
            if _RECORD_VALUE.match(value):
                return None
        else:
            number = _NUMBER_PARTS.match(match.group("numr"))
            text = (number.group("sign") or "") + number.group("digt").translate(_FLOAT_FIX)
            try:
                value = int(text)
            except ValueError:
                value = float(text)
        values.setdefault(keyword, value)
    return values


def parse_header(cards: Sequence[str]) -> CardHeader | fits.Header:
    """A header of `cards`: a `CardHeader`, or an astropy ``Header`` for unusual cards."""
    cards = tuple(cards)
    values = _card_values(cards)
    if values is None:
        return astropy_header(cards)
    return CardHeader(cards, values)


def astropy_header(header: CardHeader | fits.Header | Sequence[str]) -> fits.Header:
    """The astropy ``Header`` of a header or of its cards (imports astropy)."""
    from astropy.io import fits

    if isinstance(header, fits.Header):
        return header
    cards = header.cards if isinstance(header, CardHeader) else header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fits.Header.fromstring("".join(cards))


def header_errors() -> tuple[type[Exception], ...]:
    """What looking up a card can raise: astropy's `VerifyError` only if astropy is loaded.

    A `CardHeader` never raises; an astropy header exists only once astropy is imported.
    """
    verify = sys.modules.get("astropy.io.fits.verify")
    return (ValueError,) if verify is None else (verify.VerifyError, ValueError)


def card_value(header: fits.Header, key: str, default: object = None) -> object:
    """``header.get(key, default)``, with an unparsable card read as missing.

    astropy parses a card's value on first access and raises `VerifyError` for a malformed
    one; a damaged descriptive card must not stop a frame from rendering.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return header.get(key, default)
    except header_errors():
        return default


#: Section values that mean "not known" (BANZAI's ``_init_detector_sections``).
UNKNOWN_SECTIONS = frozenset({"UNKNOWN", "N/A"})


def has_section(header: CardHeader | fits.Header, key: str) -> bool:
    """Whether `header` gives the section `key` (present, and not ``UNKNOWN`` or ``N/A``)."""
    value = card_value(header, key)
    return value is not None and str(value).strip().upper() not in UNKNOWN_SECTIONS
