"""The usual frame renders without importing astropy; anything else imports it when needed.

A Lambda cold start pays for every import and ``astropy.io.fits`` alone costs ~0.3 s of CPU,
so a plain ``.fits`` or a Rice-compressed quantized ``.fits.fz`` (zscale, any format, with
or without a label) is read by our own header reader and astropy's C decoder loaded from its
file. Everything must stay exactly as astropy reads it: header values, pixels, and the
fallback to astropy when the direct load of the decoder fails.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
from astropy.io import fits

from tests.support.fits_factory import (
    gzip_bytes,
    raw_amplifier_frame_bytes,
    reduced_frame_bytes,
)
from thumbnails.imaging import rice
from thumbnails.imaging.cards import CardHeader, parse_header
from thumbnails.imaging.hdus import iter_hdus, select_image
from thumbnails.imaging.render import load_frame, render_thumbnail
from thumbnails.params import ThumbnailParams

SHAPE = (96, 128)
RENDER_AND_LIST_ASTROPY = """
import sys
import thumbnails.imaging.render as r
from thumbnails.params import ThumbnailParams
r.render_thumbnail([open(sys.argv[1], 'rb').read()], ThumbnailParams(**eval(sys.argv[2])))
print(sorted(name for name in sys.modules if name.split('.')[0] == 'astropy'))
"""


def astropy_modules_after_render(path, params: str = "{}") -> list[str]:
    """The astropy modules a fresh interpreter has imported after rendering `path`."""
    result = subprocess.run(
        [sys.executable, "-c", RENDER_AND_LIST_ASTROPY, str(path), params],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return eval(result.stdout)


# ---------------------------------------------------------------------------- imports
@pytest.mark.parametrize(
    ("name", "compression", "params"),
    [
        ("frame.fits.fz", "RICE_1", "{}"),
        ("frame.fits.fz", "GZIP_2", "{}"),
        ("frame.fits", None, "{}"),
        ("frame.fits.fz", "RICE_1", "{'format': 'png', 'label': 'lsc1m005 e91'}"),
        ("frame.fits", None, "{'format': 'webp', 'width': 50, 'height': 50}"),
    ],
)
def test_the_usual_frame_renders_without_importing_astropy(tmp_path, name, compression, params):
    path = tmp_path / name
    path.write_bytes(reduced_frame_bytes(SHAPE, compression=compression))
    assert astropy_modules_after_render(path, params) == []


@pytest.mark.parametrize(
    ("frame", "params", "needed"),
    [
        (lambda: reduced_frame_bytes(SHAPE, compression="PLIO_1"), "{}", "astropy.io.fits"),
        (lambda: reduced_frame_bytes(SHAPE, compression="HCOMPRESS_1"), "{}", "astropy.io.fits"),
        (
            lambda: reduced_frame_bytes(SHAPE, compression="RICE_1"),
            "{'stretch': 'asinh'}",
            "astropy.visualization",
        ),
        (
            lambda: reduced_frame_bytes(SHAPE, header={"LONGSTR": "x" * 100}),
            "{}",
            "astropy.io.fits",
        ),
    ],
    ids=["plio tiles", "hcompress tiles", "asinh stretch", "a CONTINUE card"],
)
def test_other_frames_and_stretches_import_astropy_when_they_need_it(
    tmp_path, frame, params, needed
):
    path = tmp_path / "frame.fits"
    path.write_bytes(frame())
    assert needed in astropy_modules_after_render(path, params)


def test_the_frame_header_is_an_astropy_header_when_asked_for():
    frame = load_frame(reduced_frame_bytes(SHAPE, compression="RICE_1", filter="V"))
    assert isinstance(frame.header, fits.Header)
    assert frame.header["FILTER"] == "V"
    frame.header["FILTER"] = "B"  # one header, built once: changes stay
    assert frame.header["FILTER"] == "B"


# ---------------------------------------------------------------------------- headers
def header_cards(raw: bytes) -> list[list[str]]:
    return [list(hdu.cards) for hdu in iter_hdus(raw)]


TRICKY_CARDS = [
    "INT     =                   42 / a comment",
    "NEG     =                 -007",
    "FLOAT   =          1.5E+03 / exponent",
    "DFLOAT  =              2.5D-02",
    "LOWEXP  =              2.5d-02",
    "DOT     =                   1.",
    "POINT   =                  .25",
    "EXPINT  =                  1E5",
    "SPACED  =           -  1.0E 5",
    "BOOLT   =                    T",
    "BOOLF   = F / false",
    "STRING  = 'IMAGE   '",
    "QUOTED  = 'it''s here'         / quote",
    "LEADING = '  padded  '",
    "EMPTY   = ''",
    "SLASH   = 'a/b c'              / comment with 'quotes'",
    "DETSEC  = '[1:2048,1:2048]'",
    "DATE-OBS= '2026-01-01T01:00:00.000'",
    "AMPER   = 'abc&'",
    "DUP     =                    1",
    "DUP     =                    2",
]
FALLBACK_CARDS = [
    "CPLX    = (1.0, 2.0)",
    "UNDEF   =",
    "BAD     = banana",
    "DP1     = 'AXIS.1: 1'",
    "HIERARCH ESO DET CHIP = 3",
    "LONG    = 'abc&'\nCONTINUE  'def'",
    "lower   =                    1",
    "NOVALUE    no value indicator",
]


@pytest.mark.parametrize(
    "raw",
    [
        reduced_frame_bytes(SHAPE, compression="RICE_1"),
        reduced_frame_bytes(SHAPE, banzai_extensions=True),
        raw_amplifier_frame_bytes(compression="RICE_1"),
    ],
    ids=["reduced rice", "reduced with BPM/ERR/CAT", "raw amplifiers"],
)
def test_header_values_are_those_astropy_reads(raw):
    for cards in header_cards(raw):
        ours = parse_header(cards)
        assert isinstance(ours, CardHeader)
        theirs = fits.Header.fromstring("".join(cards))
        for card in cards:
            keyword = card[:8].rstrip()
            if keyword not in ("COMMENT", "HISTORY", ""):
                assert ours[keyword] == theirs[keyword]
                assert type(ours[keyword]) is type(theirs[keyword])


def test_unusual_values_are_read_as_astropy_reads_them():
    cards = [card.ljust(80) for card in TRICKY_CARDS]
    ours = parse_header(cards)
    theirs = fits.Header.fromstring("".join(cards))
    assert isinstance(ours, CardHeader)
    for card in cards:
        keyword = card[:8].rstrip()
        assert (ours[keyword], type(ours[keyword])) == (theirs[keyword], type(theirs[keyword]))
    assert "DETSEC" in ours and "NOPE" not in ours and ours.get("NOPE", 3) == 3
    with pytest.raises(KeyError):
        ours["NOPE"]


@pytest.mark.parametrize("card", FALLBACK_CARDS)
def test_a_header_with_any_other_card_is_left_to_astropy(card):
    cards = [line.ljust(80) for line in ["SIMPLE  =                    T", *card.split("\n")]]
    header = parse_header(cards)
    assert isinstance(header, fits.Header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert header.tostring() == fits.Header.fromstring("".join(cards)).tostring()


def test_a_compressed_image_header_is_written_as_astropy_writes_it():
    raw = reduced_frame_bytes(SHAPE, compression="RICE_1")
    info = select_image(list(iter_hdus(raw))).hdus[0]
    expected = [("XTENSION", "IMAGE"), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", 128)]
    assert list(info.cards[:4]) == [str(fits.Card(*card)) for card in expected]


# ---------------------------------------------------------------------------- fallback
@pytest.fixture
def fresh_decoders(monkeypatch):
    """Forget the loaded decoders before and after the test."""
    rice.decoders.cache_clear()
    monkeypatch.setitem(rice._DIRECT, "usable", True)
    yield
    rice.decoders.cache_clear()


def reference_render(raw: bytes) -> bytes:
    return render_thumbnail([raw], ThumbnailParams(width=64, height=64, format="png")).data


@pytest.mark.parametrize("error", [ImportError, OSError, FileNotFoundError, AttributeError])
def test_when_the_decoder_cannot_be_loaded_directly_astropy_provides_it(
    fresh_decoders, monkeypatch, error
):
    raw = reduced_frame_bytes(SHAPE, compression="RICE_1")
    expected = reference_render(raw)
    rice.decoders.cache_clear()

    def broken():
        raise error("no such extension")

    monkeypatch.setattr(rice, "_load_extension", broken)
    assert reference_render(raw) == expected
    imported = rice._import_extension()
    assert rice.decoders() == (imported.decompress_rice_1_c, imported.unquantize_float_c)


def test_when_the_decoder_takes_other_arguments_astropy_decodes_as_before(
    fresh_decoders, monkeypatch
):
    raw = gzip_bytes(reduced_frame_bytes(SHAPE, compression="RICE_1"))
    expected = reference_render(raw)
    rice.decoders.cache_clear()

    class ChangedSignature:
        @staticmethod
        def decompress_rice_1_c(data, blocksize):
            raise TypeError("decompress_rice_1_c() takes 2 arguments")

        unquantize_float_c = decompress_rice_1_c

    monkeypatch.setattr(rice, "_load_extension", ChangedSignature)
    assert reference_render(raw) == expected
    assert rice._DIRECT["usable"] is False  # the imported functions are used from now on

    rice.decoders.cache_clear()
    monkeypatch.setattr(rice, "_import_extension", ChangedSignature)
    monkeypatch.setitem(rice._DIRECT, "usable", True)
    assert reference_render(raw) == expected  # neither works: astropy decodes the HDU
