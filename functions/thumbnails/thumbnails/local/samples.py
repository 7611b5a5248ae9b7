"""A few small, realistic FITS frames for local mode, made by the project's own code.

`write_samples` fills a directory (by default ``samples/``, git-ignored) with frames shaped
like those of the Las Cumbres Observatory archive, so that ``make serve`` shows real
thumbnails on a fresh machine with no data and no network:

- a reduced (``e91``) frame: empty primary HDU, Rice-compressed ``SCI`` image, TAN WCS;
- the raw (``e00``) frame of the same field: four amplifier extensions with overscan, each
  with its own bias level, three of them read out flipped (placed by ``DETSEC``);
- a reduced, non-square frame from a smaller telescope;
- a colour set: three reduced frames of one request (one ``REQNUM``) through the ``rp``, ``V``
  and ``B`` filters, with small pointing shifts matched by their WCS. As BANZAI writes them,
  only the ``rp`` frame carries a photometric zero point (``L1ZP``: BANZAI 1.40 calibrates
  ``gp``, ``rp``, ``ip`` and ``zs`` only), so the composite is white-balanced on its stars;
- an SDSS colour set (``ip``, ``rp``, ``gp``, each with its zero point: balanced by them);
- a narrowband set (``SII``, ``H-Alpha``, ``OIII``) of an emission nebula whose lines differ
  twentyfold in surface brightness and in extent, with the faint stars of narrow filters.

Every frame is deterministic: fixed seeds, and Rice dithering seeded from the data
(``DITHER_SEED_CHECKSUM``), so the same code writes the same bytes.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Rice dithering seeded from the first tile's checksum instead of the clock: reproducible.
_DITHER_SEED_CHECKSUM = -1


@dataclass(frozen=True)
class SampleSpec:
    """One synthetic frame: the sky it shows and the header it carries.

    Shapes are numpy ``(rows, cols)``. `shift` moves the pointing by ``(dx, dy)`` pixels (the
    stars and the WCS reference pixel move together), `color` scales the stars' fluxes,
    `hot_column` adds a defective column (as the Sinistro camera's frames show), `zeropoint`
    is BANZAI's ``L1ZP`` (the magnitude of one count per second), None for none; `nebula` is
    the peak surface brightness (e-/pixel) of the field's emission nebula in this filter and
    `nebula_radius` its extent (a fraction of the frame's side).
    """

    name: str
    shape: tuple[int, int]
    filter: str
    request: int
    date: str
    field_seed: int
    rlevel: int = 91
    sky: float = 400.0
    color: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    stars: int = 600
    fwhm: float = 3.2
    scale: float = 0.389
    crval: tuple[float, float] = (97.5, -30.25)
    exptime: float = 120.0
    target: str = "SYN-FIELD-1"
    hot_column: bool = False
    zeropoint: float | None = None
    nebula: float = 0.0
    nebula_radius: float = 0.2

    @property
    def filename(self) -> str:
        return f"{self.name}.fits.fz"


_SINISTRO = {
    "shape": (1024, 1024),
    "field_seed": 3500001,
    "request": 3500001,
    "filter": "rp",
    "hot_column": True,
}


#: The samples, in gallery order.
def _colour_set(
    stem: str,
    first: int,
    request: int,
    channels: list[dict[str, Any]],
    *,
    times: tuple[str, str, str],
    **field: Any,
) -> tuple[SampleSpec, ...]:
    """Three frames of one field, request and night (`field`), one per filter (`channels`),
    numbered from `first` and taken at `times` (``HH:MM``, UTC, on 2026-03-16)."""
    return tuple(
        SampleSpec(
            name=f"{stem}-{first + i:04d}-e91",
            request=request,
            field_seed=request,
            date=f"2026-03-16T{time}:00.000",
            **field,
            **channel,
        )
        for i, (time, channel) in enumerate(zip(times, channels, strict=True))
    )


SAMPLES: tuple[SampleSpec, ...] = (
    SampleSpec(name="lsc1m005-fa15-20260315-0042-e91", date="2026-03-16T02:41:07.125", **_SINISTRO),
    SampleSpec(
        name="lsc1m005-fa15-20260315-0042-e00",
        date="2026-03-16T02:41:07.125",
        rlevel=0,
        **_SINISTRO,
    ),
    SampleSpec(
        name="ogg0m406-kb27-20260315-0050-e91",
        shape=(600, 900),
        filter="V",
        request=3500002,
        date="2026-03-16T09:05:06.789",
        field_seed=3500002,
        sky=300.0,
        stars=400,
        fwhm=2.6,
        scale=0.571,
        crval=(150.1, 20.6),
        exptime=60.0,
        target="SYN-FIELD-2",
    ),
    *_colour_set(
        "coj2m002-ep02-20260315",
        10,
        3500003,
        [
            {"filter": "rp", "sky": 600.0, "color": 1.0, "zeropoint": 24.93},
            {"filter": "V", "sky": 350.0, "color": 0.7, "shift": (4.3, -3.1)},
            {"filter": "B", "sky": 150.0, "color": 0.45, "shift": (-2.6, 5.7)},
        ],
        times=("14:00", "14:02", "14:04"),
        shape=(768, 768),
        stars=700,
        fwhm=3.6,
        scale=0.27,
        crval=(201.3, -43.0),
        exptime=90.0,
        target="SYN-FIELD-3",
    ),
    *_colour_set(
        "elp1m008-fa05-20260315",
        20,
        3500004,
        [
            {"filter": "ip", "sky": 700.0, "color": 0.78, "zeropoint": 24.6},
            {"filter": "rp", "sky": 500.0, "shift": (3.2, 1.7), "zeropoint": 24.93},
            {"filter": "gp", "sky": 250.0, "color": 1.05, "shift": (-1.4, -4.6), "zeropoint": 25.1},
        ],
        times=("03:10", "03:12", "03:14"),
        shape=(512, 512),
        stars=500,
        fwhm=3.0,
        scale=0.389,
        crval=(83.8, -5.4),
        exptime=120.0,
        target="SYN-FIELD-4",
    ),
    *_colour_set(
        "cpt1m010-fa16-20260315",
        30,
        3500005,
        [
            {"filter": "SII", "nebula": 60.0, "nebula_radius": 0.34},
            {"filter": "H-Alpha", "shift": (2.1, -1.3), "nebula": 1200.0, "nebula_radius": 0.26},
            {"filter": "OIII", "shift": (-3.0, 2.4), "nebula": 60.0, "nebula_radius": 0.14},
        ],
        times=("21:00", "21:10", "21:20"),
        shape=(512, 512),
        sky=25.0,
        color=0.06,  # a 3 nm filter passes a few percent of a broadband's starlight
        stars=400,
        fwhm=3.4,
        scale=0.389,
        crval=(270.9, -24.4),
        exptime=300.0,
        target="SYN-NEBULA-5",
    ),
)


def _moffat_stars(image: Any, spec: SampleSpec) -> None:
    """Add the field's Moffat stars (beta 3) to `image` in place, on per-star stamps."""
    import numpy as np

    rng = np.random.default_rng(spec.field_seed)  # the field, shared by a colour set
    rows, cols = spec.shape
    x = rng.uniform(-20, cols + 20, spec.stars) + spec.shift[0]
    y = rng.uniform(-20, rows + 20, spec.stars) + spec.shift[1]
    # Power-law fluxes, N(>F) ~ F^-0.7, capped: a few bright stars, many faint ones.
    flux = np.minimum(300.0 * (1.0 - rng.random(spec.stars)) ** (-1.0 / 0.7), 3e7) * spec.color
    beta = 3.0
    alpha = spec.fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    norm = (beta - 1.0) / (np.pi * alpha**2)
    for xc, yc, f in zip(x, y, flux, strict=True):
        r = 8 if f < 2e4 else 24 if f < 1e6 else 40
        x0, x1 = max(int(xc) - r, 0), min(int(xc) + r + 1, cols)
        y0, y1 = max(int(yc) - r, 0), min(int(yc) + r + 1, rows)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        image[y0:y1, x0:x1] += (
            f * norm * (1.0 + ((xx - xc) ** 2 + (yy - yc) ** 2) / alpha**2) ** (-beta)
        )


def _nebula(image: Any, spec: SampleSpec) -> None:
    """Add the field's emission nebula in `spec.filter`'s line to `image` in place: a clumpy
    shell of `spec.nebula_radius`, its clumps the field's (shared by the set's lines)."""
    import numpy as np

    rows, cols = spec.shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    x = xx - (cols - 1) / 2.0 - spec.shift[0]
    y = yy - (rows - 1) / 2.0 - spec.shift[1]
    r = np.hypot(x, y) / (spec.nebula_radius * min(rows, cols))
    rng = np.random.default_rng(spec.field_seed)
    # Clumps and lanes: a few smooth plane waves, the same for every line of the field.
    texture = np.ones(spec.shape)
    for _ in range(8):
        angle, wavelength = rng.uniform(0, np.pi), rng.uniform(40.0, 160.0)
        phase = rng.uniform(0, 2 * np.pi)
        along = (x * np.cos(angle) + y * np.sin(angle)) * (2 * np.pi / wavelength)
        texture += 0.3 * np.sin(along + phase)
    # An elongated, lopsided shell: brighter to one side, as ionised gas against a cloud.
    r = r * (1.0 + 0.25 * np.cos(np.arctan2(y, x) - 0.6))
    shell = np.exp(-0.5 * ((r - 0.8) / 0.25) ** 2) + 0.6 * np.exp(-0.5 * (r / 0.5) ** 2)
    image += spec.nebula * np.clip(texture, 0.2, None) * shell / 1.6


def sky_electrons(spec: SampleSpec) -> Any:
    """The frame's image in electrons: sky, stars, Poisson and read noise (a hot column).

    Returns
    -------
    numpy.ndarray
        float64 of `spec.shape`, clipped at a full well of 60000 e-.
    """
    import numpy as np

    image = np.full(spec.shape, spec.sky)
    _moffat_stars(image, spec)
    if spec.nebula:
        _nebula(image, spec)
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))  # this exposure's noise
    image = rng.poisson(image).astype(np.float64) + rng.normal(0.0, 9.0, spec.shape)
    if spec.hot_column:  # the same detector column in every frame of this camera
        image[:, spec.field_seed % spec.shape[1]] += 3000.0
    return np.minimum(image, 60000.0)


def header_cards(spec: SampleSpec) -> list[tuple[str, Any, str]]:
    """An LCO-style header with a TAN WCS (north up, east left)."""
    site, telescope, instrument = spec.name.split("-")[0][:3], spec.name[3:8], spec.name[9:13]
    rows, cols = spec.shape
    scale = spec.scale / 3600.0
    cards = [
        ("ORIGIN", "LCOGT", "Organization responsible for the data"),
        ("SITEID", site, "ID code of the Observatory site"),
        ("TELESCOP", telescope, "Telescope used"),
        ("INSTRUME", instrument, "Instrument used"),
        ("OBSTYPE", "EXPOSE", "Observation type"),
        ("CONFTYPE", "EXPOSE", "Configuration type"),
        ("DAY-OBS", spec.name.split("-")[2], "[UTC] Date at start of local observing night"),
        ("DATE-OBS", spec.date, "[UTC] Start of the exposure"),
        ("EXPTIME", spec.exptime, "[s] Exposure length"),
        ("FILTER", spec.filter, "Filter used"),
        ("OBJECT", spec.target, "Object name"),
        ("PROPID", "LCOSYN2026A-001", "Proposal ID"),
        ("REQNUM", spec.request, "Request number"),
        ("BLKUID", spec.request + 900_000_000, "Block unique ID"),
        ("CCDSUM", "1 1", "CCD on-chip summing/binning"),
        ("GAIN", 1.0, "[electron/count] Pixel gain"),
        ("RDNOISE", 9.0, "[electron/pixel] Read noise"),
        ("SATURATE", 60000.0, "Saturation level"),
        ("PIXSCALE", spec.scale, "[arcsec/pixel] Nominal pixel scale on sky"),
        ("RLEVEL", spec.rlevel, "Reduction level"),
        ("RADESYS", "ICRS", "Fundamental coordinate system"),
        ("EQUINOX", 2000.0, "[yr] Equinox of the coordinates"),
        ("CTYPE1", "RA---TAN", "Type of WCS projection"),
        ("CTYPE2", "DEC--TAN", "Type of WCS projection"),
        ("CUNIT1", "deg", ""),
        ("CUNIT2", "deg", ""),
        ("CRVAL1", spec.crval[0], "[deg] RA at the reference pixel"),
        ("CRVAL2", spec.crval[1], "[deg] Dec at the reference pixel"),
        ("CRPIX1", (cols + 1) / 2.0 + spec.shift[0], "[pixel] Reference pixel (axis 1)"),
        ("CRPIX2", (rows + 1) / 2.0 + spec.shift[1], "[pixel] Reference pixel (axis 2)"),
        ("CD1_1", -scale, "[deg/pixel] WCS CD matrix"),
        ("CD1_2", 0.0, "[deg/pixel] WCS CD matrix"),
        ("CD2_1", 0.0, "[deg/pixel] WCS CD matrix"),
        ("CD2_2", scale, "[deg/pixel] WCS CD matrix"),
    ]
    if spec.rlevel:
        cards.append(("BUNIT", "electron", "Units of the pixel values"))
    if spec.zeropoint is not None:
        cards += [
            ("L1ZP", spec.zeropoint, "Instrumental zeropoint [mag]"),
            ("L1ZPERR", 0.012, "Error on Instrumental zeropoint [mag]"),
        ]
    return cards


def _reduced_hdus(spec: SampleSpec) -> list[Any]:
    import numpy as np
    from astropy.io import fits

    data = sky_electrons(spec).astype(np.float32)
    sci = fits.CompImageHDU(
        data,
        header=fits.Header(header_cards(spec)),
        name="SCI",
        compression_type="RICE_1",
        quantize_level=4.0,
        dither_seed=_DITHER_SEED_CHECKSUM,
    )
    return [fits.PrimaryHDU(), sci]


def _amplifier_sections(rows: int, cols: int) -> Iterator[tuple[int, str]]:
    """``(amplifier, DETSEC)`` of a 2x2 readout; reversed ranges mean flipped readout."""
    half_r, half_c = rows // 2, cols // 2
    yield 1, f"[1:{half_c},1:{half_r}]"
    yield 2, f"[{cols}:{half_c + 1},1:{half_r}]"
    yield 3, f"[{cols}:{half_c + 1},{rows}:{half_r + 1}]"
    yield 4, f"[1:{half_c},{rows}:{half_r + 1}]"


def _raw_hdus(spec: SampleSpec, overscan: int = 32) -> list[Any]:
    """Four uint16 amplifier extensions (data plus overscan columns), as a Sinistro writes."""
    import numpy as np
    from astropy.io import fits

    electrons = sky_electrons(spec)
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()) + 1)
    rows, cols = spec.shape
    half_r, half_c = rows // 2, cols // 2
    hdus: list[Any] = [fits.PrimaryHDU(header=fits.Header(header_cards(spec)))]
    for amp, detsec in _amplifier_sections(rows, cols):
        (x0, x1), (y0, y1) = (
            tuple(int(v) for v in part.split(":")) for part in detsec[1:-1].split(",")
        )
        quadrant = electrons[min(y0, y1) - 1 : max(y0, y1), min(x0, x1) - 1 : max(x0, x1)]
        quadrant = quadrant[:: 1 if y1 > y0 else -1, :: 1 if x1 > x0 else -1]  # readout first
        bias = 980.0 + 45.0 * amp
        adu = bias + rng.normal(0.0, 9.0, (half_r, half_c + overscan))
        adu[:, :half_c] += quadrant
        cards = [
            ("EXTVER", amp, "Amplifier"),
            ("GAIN", 1.0, "[electron/count] Pixel gain"),
            ("DATASEC", f"[1:{half_c},1:{half_r}]", "[binned pixel] Data section"),
            ("TRIMSEC", f"[1:{half_c},1:{half_r}]", "[binned pixel] Useful data"),
            ("BIASSEC", f"[{half_c + 1}:{half_c + overscan},1:{half_r}]", "Overscan region"),
            ("DETSEC", detsec, "[unbinned pixel] Detector section"),
        ]
        hdus.append(
            fits.CompImageHDU(
                np.clip(adu, 0, 65535).astype(np.uint16),
                header=fits.Header(cards),
                name="SCI",
                compression_type="RICE_1",
            )
        )
    return hdus


def sample_bytes(spec: SampleSpec) -> bytes:
    """The bytes of one sample frame (``.fits.fz``: tile-compressed image extensions)."""
    from astropy.io import fits

    hdus = _raw_hdus(spec) if spec.rlevel == 0 else _reduced_hdus(spec)
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer, output_verify="exception")
    return buffer.getvalue()


def write_samples(directory: Path, specs: tuple[SampleSpec, ...] = SAMPLES) -> list[Path]:
    """Write the sample frames into `directory` (created if needed), skipping existing files.

    Files are written under a temporary name and renamed, so an interrupted run never leaves
    a truncated frame that later looks complete.

    Returns
    -------
    list of Path
        Every sample's path, in `specs` order.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        path = directory / spec.filename
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            try:
                partial.write_bytes(sample_bytes(spec))
                partial.replace(path)
            finally:
                partial.unlink(missing_ok=True)
        paths.append(path)
    return paths
