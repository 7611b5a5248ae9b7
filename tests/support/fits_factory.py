"""Small, deterministic FITS files for tests, built in memory with astropy.

Every builder returns the bytes of a complete file (nothing touches the disk) and is
deterministic: the same arguments give the same bytes. Shapes are numpy ``(rows, cols)``;
row 0 is FITS row 1 (the bottom of the image in the old service's orientation).

Builders
--------
- `reduced_frame_bytes`: a BANZAI-like reduced frame (empty primary + ``SCI`` image, TAN WCS),
  optionally tile-compressed (Rice, GZIP, HCOMPRESS, PLIO), with ``CAT``/``BPM``/``ERR``
  extensions, or with the image in the primary HDU.
- `raw_amplifier_frame_bytes`: a raw multi-amplifier frame, one extension per amplifier with
  ``DATASEC``/``DETSEC``/``BIASSEC``, each amplifier with its own bias level.
- `cube_frame_bytes`: the image as a 3-D cube in the primary HDU (old 4-amplifier files).
- `sinistro_cube_bytes`: a 4096 x 4096 detector scene split into an old Sinistro cube
  (4 x rows x 2080, no section keywords) the way BANZAI reads such cubes back.
- `table_only_bytes`: a valid FITS file with no image data at all.
- `marker_sky` and `mounted_frame_bytes`: a field with an asymmetric marker, as seen by a
  camera mounted in any of the `CAMERAS` ways (turned, mirrored), with the matching WCS.
- `gzip_bytes`: gzip any bytes (``.fits.gz``).
- `hdulist_bytes`: serialise any `~astropy.io.fits.HDUList`.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from astropy.io import fits

COMPRESSIONS = ("RICE_1", "GZIP_1", "GZIP_2", "HCOMPRESS_1", "PLIO_1")

#: The default amplifier layout of a 2x2 raw frame, as in LCO Sinistro files: the readout
#: corner of every amplifier is at a detector corner, so three of them are flipped.
#: Built from the amplifier's data shape by `quadrant_detsecs`.
DEFAULT_BIASES = (1000.0, 1100.0, 1200.0, 1300.0)


def hdulist_bytes(hdus: fits.HDUList | Sequence[fits.hdu.base.ExtensionHDU]) -> bytes:
    """Serialise HDUs into the bytes of a FITS file (in memory)."""
    hdulist = hdus if isinstance(hdus, fits.HDUList) else fits.HDUList(list(hdus))
    buffer = io.BytesIO()
    hdulist.writeto(buffer, output_verify="exception")
    return buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """Gzip `data` deterministically (fixed mtime), as a ``.fits.gz`` file holds it."""
    return gzip.compress(data, mtime=0)


def tan_wcs_cards(
    shape: tuple[int, int],
    *,
    crval: tuple[float, float] = (201.3, -43.0),
    scale_arcsec: float = 0.5,
    shift: tuple[float, float] = (0.0, 0.0),
) -> list[tuple[str, object]]:
    """Header cards of a simple TAN WCS, north up, east left.

    `shift` moves the reference pixel by ``(dx, dy)`` pixels, matching a pointing shift of the
    stars drawn by `star_field` with the same `shift`.
    """
    rows, cols = shape
    scale = scale_arcsec / 3600.0
    return [
        ("RADESYS", "ICRS"),
        ("EQUINOX", 2000.0),
        ("CTYPE1", "RA---TAN"),
        ("CTYPE2", "DEC--TAN"),
        ("CUNIT1", "deg"),
        ("CUNIT2", "deg"),
        ("CRVAL1", crval[0]),
        ("CRVAL2", crval[1]),
        ("CRPIX1", (cols + 1) / 2.0 + shift[0]),
        ("CRPIX2", (rows + 1) / 2.0 + shift[1]),
        ("CD1_1", -scale),
        ("CD1_2", 0.0),
        ("CD2_1", 0.0),
        ("CD2_2", scale),
    ]


def star_positions(
    shape: tuple[int, int], stars: int, *, catalog_seed: int = 1
) -> list[tuple[float, float, float]]:
    """Deterministic ``(x, y, peak)`` star positions (0-based pixels) inside `shape`."""
    rows, cols = shape
    rng = np.random.default_rng(catalog_seed)
    margin = 4.0
    xs = rng.uniform(margin, cols - 1 - margin, stars)
    ys = rng.uniform(margin, rows - 1 - margin, stars)
    peaks = 2000.0 * (1.0 - rng.random(stars)) ** -0.7
    return [(float(x), float(y), float(p)) for x, y, p in zip(xs, ys, peaks, strict=True)]


def star_field(
    shape: tuple[int, int] = (96, 128),
    *,
    seed: int = 0,
    stars: int | Iterable[tuple[float, float, float]] = 12,
    sky: float = 100.0,
    noise: float = 5.0,
    fwhm: float = 2.5,
    shift: tuple[float, float] = (0.0, 0.0),
    catalog_seed: int = 1,
) -> np.ndarray:
    """A float32 image: flat sky, Gaussian noise (from `seed`), Gaussian stars.

    `stars` is a count (positions from `catalog_seed`, shared between frames of one field)
    or explicit ``(x, y, peak)`` triples; `shift` moves every star by ``(dx, dy)`` pixels.
    """
    rows, cols = shape
    image = np.full(shape, sky, dtype=np.float64)
    if noise:
        image += np.random.default_rng(seed).normal(0.0, noise, shape)
    catalog = (
        star_positions(shape, stars, catalog_seed=catalog_seed)
        if isinstance(stars, int)
        else list(stars)
    )
    sigma = fwhm / 2.3548
    yy, xx = np.mgrid[0:rows, 0:cols]
    for x, y, peak in catalog:
        x, y = x + shift[0], y + shift[1]
        image += peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2.0 * sigma**2))
    return image.astype(np.float32)


def lco_cards(
    *,
    obstype: str = "EXPOSE",
    filter: str = "rp",
    reqnum: int | None = 3400001,
    rlevel: int = 91,
) -> list[tuple[str, object]]:
    """A few LCO-style header cards that the service reads (OBSTYPE, FILTER, REQNUM...)."""
    cards: list[tuple[str, object]] = [
        ("ORIGIN", "LCOGT"),
        ("SITEID", "coj"),
        ("TELID", "2m0a"),
        ("INSTRUME", "ep02"),
        ("OBSTYPE", obstype),
        ("CONFTYPE", obstype),
        ("DATE-OBS", "2026-01-02T14:00:00.000"),
        ("EXPTIME", 90.0),
        ("FILTER", filter),
        ("OBJECT", "SYN-FIELD"),
        ("RLEVEL", rlevel),
    ]
    if reqnum is not None:
        cards.append(("REQNUM", reqnum))
    return cards


def image_hdu(
    data: np.ndarray,
    header: fits.Header | None = None,
    *,
    name: str | None = None,
    compression: str | None = None,
    primary: bool = False,
) -> fits.hdu.base.ExtensionHDU:
    """An image HDU: plain, primary, or tile-compressed with `compression`.

    Float data is quantised (astropy's defaults) for Rice/GZIP/HCOMPRESS with a fixed dither
    seed so the bytes are deterministic; PLIO only holds non-negative integers, so float data
    is rounded and clipped for it.
    """
    if compression is None:
        if primary:
            return fits.PrimaryHDU(data, header=header)
        return fits.ImageHDU(data, header=header, name=name)
    if primary:
        raise ValueError("a tile-compressed image cannot be the primary HDU")
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}")
    if compression == "PLIO_1" and data.dtype.kind == "f":
        data = np.clip(np.rint(data), 0, 2**24 - 1).astype(np.int32)
    return fits.CompImageHDU(
        data, header=header, name=name, compression_type=compression, dither_seed=1
    )


def reduced_frame_bytes(
    shape: tuple[int, int] = (96, 128),
    *,
    compression: str | None = None,
    obstype: str = "EXPOSE",
    filter: str = "rp",
    reqnum: int | None = 3400001,
    wcs: bool = True,
    seed: int = 0,
    stars: int | Iterable[tuple[float, float, float]] = 12,
    sky: float = 100.0,
    shift: tuple[float, float] = (0.0, 0.0),
    catalog_seed: int = 1,
    data: np.ndarray | None = None,
    in_primary: bool = False,
    banzai_extensions: bool = False,
    header: dict[str, object] | None = None,
) -> bytes:
    """A BANZAI-like reduced frame: empty primary HDU (the LCO header) + ``SCI`` image.

    Parameters
    ----------
    shape : (rows, cols)
        Image shape when `data` is not given.
    compression : str, optional
        ``None`` (plain), or one of `COMPRESSIONS` for a tile-compressed ``SCI`` (.fits.fz).
    obstype, filter, reqnum : header values
        Written to the primary header (``reqnum=None`` leaves REQNUM out).
    wcs : bool
        Write a TAN WCS (`tan_wcs_cards`) to the ``SCI`` header.
    seed, stars, sky, shift, catalog_seed
        Passed to `star_field` when `data` is not given.
    data : ndarray, optional
        The image itself (any dtype astropy writes).
    in_primary : bool
        Put the image (and all cards) in the primary HDU instead of a ``SCI`` extension.
    banzai_extensions : bool
        Also write ``BPM`` and ``ERR`` images and a ``CAT`` table after ``SCI`` (as real e91
        files have); the ``BPM`` is all ones and the ``ERR`` all 10^6, so rendering either
        instead of ``SCI`` is visible.
    header : dict, optional
        Extra cards for the image header (e.g. ``{"BSCALE": 2.0}`` is NOT applied to data;
        use `data` with the stored values for that).
    """
    if data is None:
        data = star_field(
            shape, seed=seed, stars=stars, sky=sky, shift=shift, catalog_seed=catalog_seed
        )
    primary_cards = lco_cards(obstype=obstype, filter=filter, reqnum=reqnum)
    image_cards: list[tuple[str, object]] = []
    if wcs and data.ndim == 2:
        image_cards += tan_wcs_cards(data.shape, shift=shift)
    image_cards += list((header or {}).items())
    if in_primary:
        hdu = image_hdu(data, fits.Header(primary_cards + image_cards), primary=True)
        return hdulist_bytes([hdu])
    hdus: list = [
        fits.PrimaryHDU(header=fits.Header(primary_cards)),
        image_hdu(data, fits.Header(image_cards), name="SCI", compression=compression),
    ]
    if banzai_extensions:
        hdus.append(image_hdu(np.ones(data.shape, np.uint8), name="BPM", compression=compression))
        hdus.append(
            image_hdu(np.full(data.shape, 1e6, np.float32), name="ERR", compression=compression)
        )
        hdus.append(_catalog_table())
    return hdulist_bytes(hdus)


def _catalog_table() -> fits.BinTableHDU:
    columns = [
        fits.Column(name="x", format="E", array=np.array([1.0, 2.0], np.float32)),
        fits.Column(name="y", format="E", array=np.array([3.0, 4.0], np.float32)),
        fits.Column(name="flux", format="E", array=np.array([5.0, 6.0], np.float32)),
    ]
    return fits.BinTableHDU.from_columns(columns, name="CAT")


def table_only_bytes() -> bytes:
    """A valid FITS file with an empty primary HDU and only a binary table: no image."""
    return hdulist_bytes([fits.PrimaryHDU(header=fits.Header(lco_cards())), _catalog_table()])


def section(x0: int, x1: int, y0: int, y1: int) -> str:
    """A FITS section string ``[x0:x1,y0:y1]`` (1-based, inclusive; reversed = flipped)."""
    return f"[{x0}:{x1},{y0}:{y1}]"


def quadrant_detsecs(data_shape: tuple[int, int]) -> list[str]:
    """DETSECs of a 2x2 mosaic of amplifiers of `data_shape`, readout corners at the corners.

    Amplifier 1 lower-left (not flipped), 2 lower-right (flipped in x), 3 upper-right
    (flipped in x and y), 4 upper-left (flipped in y), as the LCO Sinistro e00 files.
    """
    rows, cols = data_shape
    w, h = 2 * cols, 2 * rows
    return [
        section(1, cols, 1, rows),
        section(w, cols + 1, 1, rows),
        section(w, cols + 1, h, rows + 1),
        section(1, cols, h, rows + 1),
    ]


def raw_amplifier_frame_bytes(
    amplifiers: Sequence[np.ndarray] | None = None,
    *,
    data_shape: tuple[int, int] = (32, 40),
    overscan: int = 8,
    biases: Sequence[float] = DEFAULT_BIASES,
    detsecs: Sequence[str | None] | None = None,
    compression: str | None = None,
    dtype: type = np.uint16,
    seed: int = 0,
    read_noise: float = 0.0,
    obstype: str = "EXPOSE",
    wcs_cards: Sequence[tuple[str, object]] | None = None,
    amplifier_cards: Sequence[tuple[str, object]] = (),
    ccdsum: str | None = "1 1",
    primary_ccdsum: str | None = None,
) -> bytes:
    """A raw multi-amplifier frame: full header on the primary, one ``SCI`` per amplifier.

    Each extension holds ``data_shape`` of data in its lower-left corner (``DATASEC``) and
    `overscan` columns of overscan on its right (``BIASSEC``), all offset by that amplifier's
    bias level; ``DETSEC`` (default `quadrant_detsecs`) places it on the detector.

    Parameters
    ----------
    amplifiers : sequence of ndarray, optional
        The signal of each amplifier in *readout* order (row 0 = first row read out),
        each of `data_shape`. Defaults to 4 amplifiers of flat signal ``100 * (index + 1)``.
    biases : sequence of float
        The bias level added to each amplifier's data and overscan.
    detsecs : sequence of str or None, optional
        Each amplifier's ``DETSEC``; None leaves the card out.
    ccdsum, primary_ccdsum : str or None
        ``CCDSUM`` of every extension and of the primary (None: no card).
    dtype : numpy dtype
        Stored type; ``uint16`` is written as int16 with BZERO 32768 (as real raw frames).
    read_noise : float
        Gaussian noise (from `seed`) added to data and overscan.
    wcs_cards : sequence of (keyword, value), optional
        The primary header's WCS (default: `tan_wcs_cards` of the detector, north up).
    amplifier_cards : sequence of (keyword, value)
        Extra cards for every amplifier's header (e.g. a WCS of its own readout).
    """
    rows, cols = data_shape
    if amplifiers is None:
        amplifiers = [np.full(data_shape, 100.0 * (i + 1)) for i in range(4)]
    if detsecs is None:
        detsecs = quadrant_detsecs(data_shape)
    rng = np.random.default_rng(seed)
    hdus: list = [fits.PrimaryHDU(header=fits.Header(lco_cards(obstype=obstype, rlevel=0)))]
    hdus[0].header.extend(
        tan_wcs_cards((2 * rows, 2 * cols)) if wcs_cards is None else list(wcs_cards)
    )
    if primary_ccdsum is not None:
        hdus[0].header["CCDSUM"] = primary_ccdsum
    for index, (signal, detsec) in enumerate(zip(amplifiers, detsecs, strict=True)):
        bias = biases[index]
        adu = np.full((rows, cols + overscan), bias, dtype=np.float64)
        adu[:, :cols] += signal
        if read_noise:
            adu += rng.normal(0.0, read_noise, adu.shape)
        header = fits.Header(
            [
                ("EXTVER", index + 1),
                ("DATASEC", section(1, cols, 1, rows)),
                ("TRIMSEC", section(1, cols, 1, rows)),
                ("BIASSEC", section(cols + 1, cols + overscan, 1, rows)),
                *amplifier_cards,
            ]
        )
        if detsec is not None:
            header["DETSEC"] = detsec
        if ccdsum is not None:
            header["CCDSUM"] = ccdsum
        stored = np.rint(adu).astype(dtype) if np.dtype(dtype).kind in "iu" else adu.astype(dtype)
        hdus.append(image_hdu(stored, header, name="SCI", compression=compression))
    return hdulist_bytes(hdus)


def cube_frame_bytes(
    planes: Sequence[np.ndarray] | None = None,
    *,
    shape: tuple[int, int] = (32, 40),
    count: int = 4,
    header: dict[str, object] | None = None,
) -> bytes:
    """A 3-D image in the primary HDU (NAXIS3 = `count`), as older multi-amplifier files.

    Plane ``k`` defaults to a flat ``100 * (k + 1)``; `header` adds cards (e.g. DETSEC-like
    keywords are not written: a cube carries its amplifiers by plane only).
    """
    if planes is None:
        planes = [np.full(shape, 100.0 * (k + 1), dtype=np.float32) for k in range(count)]
    cube = np.stack([np.asarray(p, dtype=np.float32) for p in planes])
    cards = lco_cards(rlevel=0) + list((header or {}).items())
    return hdulist_bytes([fits.PrimaryHDU(cube, header=fits.Header(cards))])


# ---------------------------------------------------------------------------- orientation
#: How a camera can be mounted: what it records of a sky whose north-up, east-left view
#: (`tan_wcs_cards`: FITS row 1 south, axis 1 pointing west) is the array given. The issue's
#: four cases are ``north-up``, ``mirrored``, ``rotated-90`` and ``rotated-180``.
CAMERAS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "north-up": lambda a: a,
    "mirrored": lambda a: a[:, ::-1],
    "rotated-90": lambda a: np.rot90(a, 1),
    "rotated-180": lambda a: a[::-1, ::-1],
    "rotated-270": lambda a: np.rot90(a, -1),
    "flipped": lambda a: a[::-1],
    "transposed": lambda a: a.T,
    "anti-transposed": lambda a: np.rot90(a, 2).T,
}


def mounted_wcs_cards(
    shape: tuple[int, int], camera: str, *, scale_arcsec: float = 0.5
) -> list[tuple[str, object]]:
    """The TAN WCS of `CAMERAS[camera]` applied to a `shape` image with `tan_wcs_cards`.

    Worked out from where every pixel comes from (not from any orientation code): the camera
    is a lattice map, so the north-up pixel of pixel ``p`` is ``origin + J @ p``, and the WCS
    of the mounted image is the north-up one composed with that map.
    """
    rows, cols = shape
    mount = CAMERAS[camera]
    yy, xx = np.mgrid[0:rows, 0:cols]
    src_x, src_y = mount(xx), mount(yy)  # the north-up pixel each mounted pixel shows
    origin = np.array([src_x[0, 0], src_y[0, 0]], dtype=float)
    jacobian = np.array(
        [
            [src_x[0, 1] - src_x[0, 0], src_x[1, 0] - src_x[0, 0]],
            [src_y[0, 1] - src_y[0, 0], src_y[1, 0] - src_y[0, 0]],
        ],
        dtype=float,
    )
    cards = dict(tan_wcs_cards(shape, scale_arcsec=scale_arcsec))
    cd = np.array([[cards["CD1_1"], cards["CD1_2"]], [cards["CD2_1"], cards["CD2_2"]]]) @ jacobian
    crpix = np.array([cards["CRPIX1"], cards["CRPIX2"]]) - 1.0  # 0-based
    crpix = np.linalg.solve(jacobian, crpix - origin) + 1.0
    cards.update(
        CRPIX1=float(crpix[0]),
        CRPIX2=float(crpix[1]),
        CD1_1=float(cd[0, 0]),
        CD1_2=float(cd[0, 1]),
        CD2_1=float(cd[1, 0]),
        CD2_2=float(cd[1, 1]),
    )
    return list(cards.items())


#: `marker_sky` labels: the marker's centre, its north end and its east end.
MARKER_CENTRE, MARKER_NORTH, MARKER_EAST = 1, 2, 3


def marker_sky(
    shape: tuple[int, int] = (96, 128), *, arm: int = 30, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A noisy sky with an asymmetric marker, north up and east left (row 0 = FITS row 1).

    The marker: an 8x8 square at the centre, a 12x12 square `arm` pixels north of it (up:
    higher rows) and a 6x6 square `arm` pixels east of it (left: lower columns), all at
    5000 on a sky of 100 +- 5.

    Returns
    -------
    data : float32 array
    labels : int array
        `MARKER_CENTRE`, `MARKER_NORTH`, `MARKER_EAST` where the marker's parts are, else 0.
    """
    rows, cols = shape
    data = np.random.default_rng(seed).normal(100.0, 5.0, shape).astype(np.float32)
    labels = np.zeros(shape, dtype=np.int8)
    cy, cx = rows // 2, cols // 2
    for label, (y, x), half in (
        (MARKER_CENTRE, (cy, cx), 4),
        (MARKER_NORTH, (cy + arm, cx), 6),
        (MARKER_EAST, (cy, cx - arm), 3),
    ):
        labels[y - half : y + half, x - half : x + half] = label
    data[labels > 0] = 5000.0
    return data, labels


def mounted_frame_bytes(sky: np.ndarray, camera: str, **kwargs: object) -> bytes:
    """`reduced_frame_bytes` of what a camera mounted as `camera` records of `sky`.

    `sky` is north up, east left (as `marker_sky` makes it); the frame's ``SCI`` data is
    ``CAMERAS[camera](sky)`` and its WCS `mounted_wcs_cards`. `kwargs` go to
    `reduced_frame_bytes` (``header`` cards are added after the WCS).
    """
    data = np.ascontiguousarray(CAMERAS[camera](sky))
    header = dict(mounted_wcs_cards(sky.shape, camera))
    header.update(kwargs.pop("header", None) or {})  # type: ignore[call-overload]
    return reduced_frame_bytes(data=data, wcs=False, header=header, **kwargs)  # type: ignore[arg-type]


#: The old Sinistro cube geometry (BANZAI, ``banzai/lco.py``, ``_munge_data_cube``).
SINISTRO_DETECTOR = 4096
SINISTRO_DATA = 2048
SINISTRO_WIDTH = 2080
SINISTRO_OVERSCAN = slice(2054, 2080)  # BIASSEC [2055:2080,1:2048], 0-based columns
#: What fills the pixels of a readout that are neither data nor overscan (the columns
#: between them, the first row of planes 3-4, rows past the data): far from any sky level,
#: so a thumbnail that shows them is visibly wrong.
SINISTRO_JUNK = 60000


def sinistro_cube_bytes(
    scene: np.ndarray,
    *,
    rows: int = SINISTRO_DATA,
    biases: Sequence[float] = DEFAULT_BIASES,
    read_noise: float = 0.0,
    seed: int = 0,
) -> bytes:
    """An old Sinistro raw frame: `scene` read out by four amplifiers into a uint16 cube.

    The cube is ``(4, rows, 2080)`` in the primary HDU, with no section keywords, as real
    files hold it. Plane ``k`` is amplifier ``k``'s readout (row 0 read first), written here
    directly from the detector geometry that BANZAI's sections describe:

    - plane 1 holds the lower-left quadrant as it is, plane 2 the lower-right flipped in x,
      plane 3 the upper-right flipped in x and y, plane 4 the upper-left flipped in y;
    - planes 3 and 4 start one row early: their row 0 is not on the detector, their row 1
      is the detector's top row. With ``rows == 2048`` ("missing row") they therefore end
      one row short, and detector row 2049 (``scene[2048]``) is in no plane; with more rows
      ("full") every detector row is read out;
    - columns 2055-2080 are overscan (the amplifier's bias level), columns 2049-2054 and any
      rows outside the data hold `SINISTRO_JUNK`.

    Every pixel holding data is ``scene + bias`` (plus read noise, on every pixel), rounded.

    Parameters
    ----------
    scene : ndarray
        The detector, ``(4096, 4096)``, row 0 = detector row 1.
    rows : int
        Rows per plane: 2048 for the "missing row" cubes, more for the "full" ones.
    """
    n, d = SINISTRO_DETECTOR, SINISTRO_DATA
    if scene.shape != (n, n) or rows < d:
        raise ValueError("a Sinistro scene is 4096 x 4096 and a plane has >= 2048 rows")
    rng = np.random.default_rng(seed)
    cube = np.full((4, rows, SINISTRO_WIDTH), SINISTRO_JUNK, dtype=np.float32)
    lower, upper = scene[:d], scene[d:]
    # Readout row r of planes 3-4 is detector row 4097 - r (1-based): row 1 is the top.
    upper_rows = min(rows - 1, d)  # 2047 when the middle row is missing
    upper_read = upper[::-1][:upper_rows]
    cube[0, :d, :d] = lower[:, :d]
    cube[1, :d, :d] = lower[:, d:][:, ::-1]
    cube[2, 1 : 1 + upper_rows, :d] = upper_read[:, d:][:, ::-1]
    cube[3, 1 : 1 + upper_rows, :d] = upper_read[:, :d]
    for k, bias in enumerate(biases):
        data = cube[k, :d, :d] if k < 2 else cube[k, 1 : 1 + upper_rows, :d]
        data += np.float32(bias)
        cube[k, :, SINISTRO_OVERSCAN] = bias
    if read_noise:
        cube += rng.standard_normal(cube.shape, dtype=np.float32) * np.float32(read_noise)
    stored = np.clip(np.rint(cube), 0, 65535).astype(np.uint16)
    header = fits.Header(lco_cards(rlevel=0))
    header["INSTRUME"] = "fl03"
    header["CCDSUM"] = "1 1"
    header["GAIN"] = "[1.0, 1.0, 1.0, 1.0]"
    return hdulist_bytes([fits.PrimaryHDU(stored, header=header)])
