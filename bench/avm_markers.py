#!/usr/bin/env python3
"""The README's AVM picture: a thumbnail (wcs=true) with circles where its AVM puts the frame's
brightest isolated stars (found in the FITS pixels, sky positions from the frame's own WCS).

    python bench/avm_markers.py FRAME.fits.fz OUT.png    (a frame from make_frames.py; needs pyavm)
"""

import io
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image, ImageDraw
from pyavm import AVM

from thumbnails.imaging.render import load_frame, render_frames
from thumbnails.params import ThumbnailParams

path, out = sys.argv[1], sys.argv[2]
data = Path(path).read_bytes()
with fits.open(io.BytesIO(data)) as hdus:
    sci = hdus["SCI"]
    image = sci.data.astype(np.float32)
    frame_wcs = WCS(sci.header)
# The brightest local maxima, on 16x16 blocks (one star per block).
b = 16
rows, cols = image.shape[0] // b, image.shape[1] // b
blocks = image[: rows * b, : cols * b].reshape(rows, b, cols, b)
peaks = blocks.max(axis=(1, 3))
order = np.argsort(peaks, axis=None)[::-1]
stars = []
for flat in order:
    r, c = divmod(int(flat), cols)
    if any(abs(r - r2) < 8 and abs(c - c2) < 8 for r2, c2, _ in stars):
        continue
    block = blocks[r, :, c, :]
    dy, dx = np.unravel_index(np.argmax(block), block.shape)
    x, y = c * b + dx, r * b + dy
    if not (4 <= x < image.shape[1] - 4 and 4 <= y < image.shape[0] - 4):
        continue
    sky_level = float(np.median(image[::64, ::64]))
    peak = image[y, x] - sky_level
    near = [image[y + dy2, x + dx2] - sky_level for dy2, dx2 in ((0, 1), (0, -1), (1, 0), (-1, 0))]
    far = [image[y + dy2, x + dx2] - sky_level for dy2, dx2 in ((0, 4), (0, -4), (4, 0), (-4, 0))]
    if min(near) < 0.3 * peak or max(far) > 0.6 * peak:  # a cosmic ray or a hot column
        continue
    if image[max(0, y - 15) : y + 16, max(0, x - 15) : x + 16].max() > image[y, x]:
        continue  # in a brighter star's wings
    if image[y, x] > 40000:
        continue  # saturated
    stars.append((r, c, (c * b + dx, r * b + dy)))
    if len(stars) == 25:
        break
sky = [frame_wcs.all_pix2world(x, y, 0) for _r, _c, (x, y) in stars]
thumbnail = render_frames([load_frame(data)], ThumbnailParams(width=500, height=500, wcs=True))
tmp = out + ".jpg"  # pyavm reads from a file
Path(tmp).write_bytes(thumbnail.data)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    avm_wcs = AVM.from_image(tmp).to_wcs()
picture = Image.open(io.BytesIO(thumbnail.data)).convert("RGB")
draw = ImageDraw.Draw(picture)
height = picture.height
for ra, dec in sky:
    x, y = avm_wcs.all_world2pix(ra, dec, 0)
    row = height - 1 - float(y)
    draw.ellipse([float(x) - 9, row - 9, float(x) + 9, row + 9], outline=(255, 60, 60), width=2)
picture.quantize(colors=48).save(out, optimize=True)
print(thumbnail.width, thumbnail.height, thumbnail.orientation, len(sky))
