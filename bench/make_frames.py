#!/usr/bin/env python3
"""Write synthetic, LCO-like FITS frames for thumbnail tests and benchmarks.

The benchmark's own copy of the team's frame generator (``make bench`` runs it once into
``bench/.cache/frames``), so the repository needs nothing beside it.

    python make_frames.py OUTDIR [--only NAME]

Needs numpy, astropy and the `fpack` binary (Debian/Ubuntu: apt-get install libcfitsio-bin).
Every random draw has a fixed seed (per field and per frame name), and fpack runs with -qt
(dither seed taken from the first tile's checksum, not the clock) and -C (no CHECKSUM cards,
whose comments carry a timestamp), so the output is byte-identical run to run for a given
numpy/astropy/cfitsio. Frames are independent: --only builds one without the others.
"""

import argparse
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from astropy.io import fits

NAME_RE = re.compile(
    r"(?P<site>[a-z]{3})(?P<cls>\dm\d)(?P<num>\d\d)-(?P<inst>[a-z]{2}\d\d)-"
    r"(?P<day>\d{8})-(?P<frame>\d{4})-e(?P<rlevel>\d\d)"
)

# Per-frame parameters. shape is numpy (rows, cols); scale in arcsec/pixel; sky in electrons;
# saturate in ADU (reduced headers give it in electrons); shift is the pointing offset in pixels.
SINISTRO = dict(
    shape=(4096, 4096),
    scale=0.389,
    telid="1m0a",
    gain=1.0,
    rdnoise=8.0,
    saturate=47500.0,
    nstars=4000,
    fwhm=3.2,
    sky=850.0,
    exptime=120.0,
    filt="rp",
    reqnum=3400001,
    blkuid=812000001,
    object="SYN-FIELD-1",
    crval=(97.5, -30.25),
    rot=0.4,
    catalog_seed=3400001,
)
SPECS = {
    "lsc1m005-fa15-20260101-0100-e91": dict(SINISTRO, date="2026-01-02T03:11:12.345"),
    "lsc1m005-fa15-20260101-0100-e00": dict(SINISTRO, date="2026-01-02T03:11:12.345"),
    "ogg0m406-kb27-20260101-0050-e91": dict(
        shape=(2042, 3054),
        scale=0.571,
        telid="0m4a",
        gain=1.4,
        rdnoise=14.0,
        saturate=45000.0,
        nstars=2500,
        fwhm=2.6,
        sky=300.0,
        exptime=60.0,
        filt="V",
        reqnum=3400002,
        blkuid=812000002,
        object="SYN-FIELD-2",
        crval=(150.1, 20.6),
        rot=-0.8,
        date="2026-01-02T09:05:06.789",
        catalog_seed=3400002,
    ),
}
# One request of three filters on the same field: same star catalogue, shifted pointing.
for i, (filt, sky, color, shift) in enumerate(
    [
        ("rp", 600.0, 1.0, (0.0, 0.0)),
        ("V", 350.0, 0.7, (4.3, -3.1)),
        ("B", 150.0, 0.45, (-2.6, 5.7)),
    ]
):
    SPECS[f"coj2m002-ep02-20260101-{10 + i:04d}-e91"] = dict(
        shape=(1024, 1024),
        scale=0.27,
        telid="2m0a",
        gain=1.0,
        rdnoise=9.0,
        saturate=60000.0,
        nstars=1200,
        fwhm=3.6,
        sky=sky,
        exptime=90.0,
        filt=filt,
        reqnum=3400003,
        blkuid=812000003,
        object="SYN-FIELD-3",
        crval=(201.3, -43.0),
        rot=0.0,
        date=f"2026-01-02T14:0{2 * i}:00.000",
        color=color,
        shift=shift,
        catalog_seed=3400003,
    )


def seed_of(text):
    return zlib.crc32(text.encode())


def star_catalog(rng, shape, n, fmin=300.0, alpha=0.7, fmax=5e7):
    """Uniform positions (a margin beyond the edges) and power-law fluxes N(>F) ~ F^-alpha."""
    ny, nx = shape
    x = rng.uniform(-40, nx + 40, n)
    y = rng.uniform(-40, ny + 40, n)
    flux = np.minimum(fmin * (1.0 - rng.random(n)) ** (-1.0 / alpha), fmax)
    return x, y, flux


def add_stars(img, x, y, flux, fwhm, beta=3.0):
    """Add Moffat stars (0-based pixel centres) to img in place, each on a stamp sized to its
    flux."""
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    norm = (beta - 1.0) / (np.pi * alpha**2)
    ny, nx = img.shape
    for xc, yc, f in zip(x, y, flux, strict=True):
        r = 8 if f < 2e4 else 24 if f < 1e6 else 48
        x0, x1 = max(int(xc) - r, 0), min(int(xc) + r + 1, nx)
        y0, y1 = max(int(yc) - r, 0), min(int(yc) + r + 1, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        rr2 = (xx - xc) ** 2 + (yy - yc) ** 2
        img[y0:y1, x0:x1] += f * norm * (1.0 + rr2 / alpha**2) ** -beta


def add_defects(img, rng, detector_rng, n_cosmics=3, n_columns=3):
    """Cosmic-ray tracks (per exposure) and bad columns (per detector: one hot, the rest
    dead from some row upwards)."""
    ny, nx = img.shape
    for _ in range(n_cosmics):
        x0, y0 = rng.uniform(0, nx), rng.uniform(0, ny)
        length, angle = rng.uniform(4, 30), rng.uniform(0, np.pi)
        t = np.linspace(0, length, int(length * 2))
        xs = np.clip((x0 + t * np.cos(angle)).astype(int), 0, nx - 1)
        ys = np.clip((y0 + t * np.sin(angle)).astype(int), 0, ny - 1)
        img[ys, xs] += rng.uniform(2e3, 2e4)
    for k, col in enumerate(detector_rng.integers(0, nx, n_columns)):
        if k == 0:
            img[:, col] += 5e3
        else:
            img[detector_rng.integers(0, ny // 2) :, col] = 0.0


def render(spec, rng):
    """Electrons on the detector: sky + stars, Poisson and read noise, defects, full well.
    Stars and bad columns come from catalog_seed, so frames of one field and camera
    (e00/e91, a colour set) share them; noise and cosmic rays come from rng."""
    shape = spec["shape"]
    img = np.full(shape, spec["sky"])
    field_rng = np.random.default_rng(spec["catalog_seed"])
    x, y, flux = star_catalog(field_rng, shape, spec["nstars"])
    dx, dy = spec.get("shift", (0.0, 0.0))
    add_stars(img, x + dx, y + dy, flux * spec.get("color", 1.0), spec["fwhm"])
    img = rng.poisson(img).astype(np.float64) + rng.normal(0.0, spec["rdnoise"], shape)
    add_defects(img, rng, field_rng)
    return np.minimum(img, spec["saturate"] * spec["gain"])


def lco_header(name, spec, shape, rlevel):
    """A plausible LCO-style header with a TAN WCS; shape is the full (rows, cols) of the image."""
    m = NAME_RE.fullmatch(name).groupdict()
    ny, nx = shape
    s, t = spec["scale"] / 3600.0, np.radians(spec["rot"])
    dx, dy = spec.get("shift", (0.0, 0.0))
    cards = [
        ("ORIGIN", "LCOGT", "Organization responsible for the data"),
        ("SITEID", m["site"], "ID code of the Observatory site"),
        ("ENCID", "doma", "ID code of the Enclosure"),
        ("TELID", spec["telid"], "ID code of the Telescope"),
        ("TELESCOP", f"{m['cls']}-{m['num']}", "Telescope used"),
        ("INSTRUME", m["inst"], "Instrument used"),
        ("OBSTYPE", "EXPOSE", "Observation type"),
        ("CONFTYPE", "EXPOSE", "Configuration type"),
        ("FRAMENUM", int(m["frame"]), "Running frame number"),
        ("DAY-OBS", m["day"], "[UTC] Date at start of local observing night"),
        ("DATE-OBS", spec["date"], "[UTC] Start of the exposure"),
        ("EXPTIME", spec["exptime"], "[s] Exposure length"),
        ("FILTER", spec["filt"], "Filter used"),
        ("OBJECT", spec["object"], "Object name"),
        ("PROPID", "LCOSYN2026A-001", "Proposal ID"),
        ("REQNUM", spec["reqnum"], "Request number"),
        ("BLKUID", spec["blkuid"], "Block unique ID"),
        ("CCDSUM", "1 1", "CCD on-chip summing/binning"),
        ("GAIN", spec["gain"], "[electron/count] Pixel gain"),
        ("RDNOISE", spec["rdnoise"], "[electron/pixel] Read noise"),
        (
            "SATURATE",
            spec["saturate"] * (spec["gain"] if rlevel else 1.0),
            "[electron] Saturation level" if rlevel else "[ADU] Saturation level used",
        ),
        ("PIXSCALE", spec["scale"], "[arcsec/pixel] Nominal pixel scale on sky"),
        ("RLEVEL", rlevel, "Reduction level"),
        ("RADESYS", "ICRS", "Fundamental coordinate system"),
        ("EQUINOX", 2000.0, "[yr] Equinox of the coordinates"),
        ("CTYPE1", "RA---TAN", "Type of WCS projection"),
        ("CTYPE2", "DEC--TAN", "Type of WCS projection"),
        ("CUNIT1", "deg", ""),
        ("CUNIT2", "deg", ""),
        ("CRVAL1", spec["crval"][0], "[deg] RA at the reference pixel"),
        ("CRVAL2", spec["crval"][1], "[deg] Dec at the reference pixel"),
        ("CRPIX1", (nx + 1) / 2.0 + dx, "[pixel] Coordinate of reference point (axis 1)"),
        ("CRPIX2", (ny + 1) / 2.0 + dy, "[pixel] Coordinate of reference point (axis 2)"),
        ("CD1_1", -s * np.cos(t), "[deg/pixel] WCS CD transformation matrix"),
        ("CD1_2", s * np.sin(t), "[deg/pixel] WCS CD transformation matrix"),
        ("CD2_1", s * np.sin(t), "[deg/pixel] WCS CD transformation matrix"),
        ("CD2_2", s * np.cos(t), "[deg/pixel] WCS CD transformation matrix"),
    ]
    if rlevel:
        cards.append(("BUNIT", "electron", "Units of the pixel values"))
    return fits.Header(cards)


def fpack(path, keep=False):
    """Rice-compress path to path.fz with fpack's defaults (q=4), deterministically."""
    Path(f"{path}.fz").unlink(missing_ok=True)
    cmd = ["fpack", "-C", "-qt", "4"] + ([] if keep else ["-D", "-Y"]) + [str(path)]
    subprocess.run(cmd, check=True)


def write_reduced(outdir, name, spec, keep_fits=False):
    """BANZAI-like: empty primary HDU, float32 image in an extension named SCI, then fpack."""
    rng = np.random.default_rng(seed_of(name))
    data = render(spec, rng).astype(np.float32)
    sci = fits.ImageHDU(data, header=lco_header(name, spec, data.shape, 91), name="SCI")
    path = outdir / f"{name}.fits"
    fits.HDUList([fits.PrimaryHDU(), sci]).writeto(path, overwrite=True)
    fpack(path, keep=keep_fits)


def write_raw_sinistro(outdir, name, spec):
    """Four 2080x2058 uint16 amplifier extensions (2048x2048 data + overscan), readout
    corners at the detector corners, placed by DETSEC; full header on the primary."""
    rng = np.random.default_rng(seed_of(name))
    electrons = render(spec, rng)
    hdus = [fits.PrimaryHDU(header=lco_header(name, spec, spec["shape"], 0))]
    detsecs = [
        "[1:2048,1:2048]",
        "[4096:2049,1:2048]",
        "[4096:2049,4096:2049]",
        "[1:2048,4096:2049]",
    ]
    for amp, detsec in enumerate(detsecs, start=1):
        (x0, x1), (y0, y1) = [tuple(int(v) for v in r.split(":")) for r in detsec[1:-1].split(",")]
        quad = electrons[min(y0, y1) - 1 : max(y0, y1), min(x0, x1) - 1 : max(x0, x1)]
        quad = quad[:: 1 if y1 > y0 else -1, :: 1 if x1 > x0 else -1]  # readout corner first
        bias = 980.0 + 45.0 * amp
        adu = bias + rng.normal(0.0, spec["rdnoise"] / spec["gain"], (2058, 2080))
        adu[:2048, :2048] += quad / spec["gain"]
        hdr = fits.Header(
            [
                ("EXTNAME", "SCI"),
                ("EXTVER", amp),
                ("GAIN", spec["gain"], "[electron/count] Pixel gain"),
                ("DATASEC", "[1:2048,1:2048]", "[binned pixel] Data section"),
                ("TRIMSEC", "[1:2048,1:2048]", "[binned pixel] Section of useful data"),
                ("BIASSEC", "[2055:2080,1:2048]", "[binned pixel] Overscan Region"),
                ("DETSEC", detsec, "[unbinned pixel] Detector section"),
                ("CCDSUM", "1 1", "CCD on-chip summing/binning"),
            ]
        )
        hdus.append(fits.ImageHDU(np.clip(np.rint(adu), 0, 65535).astype(np.uint16), header=hdr))
    path = outdir / f"{name}.fits"
    fits.HDUList(hdus).writeto(path, overwrite=True)  # uint16 is written as int16 + BZERO 32768
    fpack(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--only", help="one frame, by basename (extension optional)")
    args = parser.parse_args()
    if shutil.which("fpack") is None:
        sys.exit("fpack not found: apt-get install libcfitsio-bin")
    names = list(SPECS)
    if args.only:
        names = [n for n in names if n == re.sub(r"\.fits(\.fz)?$", "", args.only)]
        if not names:
            sys.exit(f"unknown frame {args.only}; choose from: {', '.join(SPECS)}")
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name.endswith("-e00"):
            write_raw_sinistro(args.outdir, name, SPECS[name])
        else:
            write_reduced(args.outdir, name, SPECS[name], keep_fits=name.startswith("lsc"))
        print(name)


if __name__ == "__main__":
    main()
