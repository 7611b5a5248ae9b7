"""The static pages of the API: the documentation at ``/`` and ``/robots.txt``.

Plain strings, so that serving them can never fail and needs no package data files.
"""

from __future__ import annotations

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FITS thumbnail service</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
code { background: #f3f3f3; padding: 0 .2em; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #ddd; padding: .3em .6em;
       text-align: left; vertical-align: top; }
</style>
</head>
<body>
<h1>FITS thumbnail service</h1>
<p>JPEG, PNG or WebP thumbnails of frames in the science archive.</p>

<h2>Endpoints</h2>
<ul>
<li><code>GET /{frame_id}/</code>: the frame with this archive id.</li>
<li><code>GET /{basename}/</code>: the frame with this basename (the file name without
<code>.fits</code> or <code>.fits.fz</code>; letters, digits, <code>.</code>, <code>_</code>
and <code>-</code>, at most 200 characters).</li>
</ul>
<p>Send your archive <code>Authorization</code> header for proprietary data; it is passed
to the archive on every request.</p>

<h2>Query parameters</h2>
<table>
<tr><th>name</th><th>default</th><th>meaning</th></tr>
<tr><td><code>width</code>, <code>height</code></td><td>200</td>
<td>The box the image fits in, in pixels (aspect ratio kept).</td></tr>
<tr><td><code>label</code></td><td></td>
<td>White text in the lower-left corner: Latin, Greek, Cyrillic and common symbols.</td></tr>
<tr><td><code>quality</code></td><td>80</td><td>JPEG/WebP quality, 1 to 95.</td></tr>
<tr><td><code>median</code></td><td>false</td>
<td>Black at the median, white at <code>percentile</code>.</td></tr>
<tr><td><code>percentile</code></td><td>99.5</td>
<td>Upper percentile for <code>median</code> and the linear stretch.</td></tr>
<tr><td><code>stretch</code></td><td>zscale</td>
<td><code>zscale</code>, <code>linear</code>, <code>log</code>, <code>sqrt</code> or
<code>asinh</code>.</td></tr>
<tr><td><code>format</code></td><td>jpeg</td><td><code>jpeg</code>, <code>png</code>,
<code>webp</code>, <code>avif</code>, or <code>auto</code>: AVIF, WebP or JPEG as the
request's <code>Accept</code> allows (answered with <code>Vary: Accept</code>);
<code>fits</code>: the pixels with their WCS (a cutout's own pixels, else binned for the
box).</td></tr>
<tr><td><code>color</code></td><td>false</td>
<td>Compose the red (R/rp), visual (V) and blue (B) frames of the same request.</td></tr>
<tr><td><code>cmap</code></td><td>gray</td>
<td>Colormap of a single frame (an RGB image): <code>gray</code>, <code>viridis</code>,
<code>inferno</code>, <code>magma</code>, <code>plasma</code>, <code>cividis</code>,
<code>hot</code>, <code>afmhot</code>, <code>bone</code> or <code>cubehelix</code>.</td></tr>
<td>Compose three frames of the same request, of one filter family (R/rp, V, B; SDSS
ip, rp, gp; narrowband SII, H-Alpha, OIII), longest wavelength red.</td></tr>
<tr><td><code>palette</code></td><td>wavelength</td>
<td>Narrowband colour: <code>wavelength</code> (<code>sho</code>: SII, H-Alpha, OIII),
<code>hoo</code> (H-Alpha, OIII, OIII) or <code>lco</code> (H-Alpha, OIII, SII).</td></tr>
<tr><td><code>orientation</code></td><td>north</td>
<td><code>north</code>: north up, east left, from the frame's WCS (turned to the nearest
quarter turn, mirrored when the camera sees the sky mirrored), as LCO's previous renderer
did; a quarter turn swaps which of <code>width</code> and <code>height</code> bounds the
image. <code>detector</code>: FITS row 1 at the bottom, as the camera reads out.</td></tr>
<tr><td><code>ra</code>, <code>dec</code></td><td></td>
<td>A cutout centred on this sky position (ICRS): decimal degrees, or sexagesimal
<code>hh:mm:ss.s</code> and <code>+dd:mm:ss</code>. Needs a frame with a usable WCS.</td></tr>
<tr><td><code>fov</code></td><td>2</td><td>The side of an <code>ra</code>/<code>dec</code>
cutout, in arcminutes.</td></tr>
<tr><td><code>x</code>, <code>y</code></td><td></td>
<td>A cutout centred on this pixel (FITS, 1-based; for raw frames, of the whole detector).</td></tr>
<tr><td><code>size</code></td><td>300</td><td>The side of an <code>x</code>/<code>y</code> cutout,
in pixels.</td></tr>
<tr><td><code>wcs</code></td><td>false</td>
<td><code>true</code>: the image carries its celestial WCS as AVM XMP (Aladin Lite,
WorldWide Telescope, pyavm read it); about 1.2 KB, a fifth of a 200 px JPEG.</td></tr>
<tr><td><code>planet</code></td><td>false</td>
<td>A planet frame: the planet found, a square cropped around it, colour channels aligned on
its disk, a linear stretch (white at the disk's <code>percentile</code>). Not with a cutout;
422 when the frame has no planet.</td></tr>
<tr><td><code>image</code></td><td></td>
<td>Absent: JSON <code>{"url": ..., "propid": ..., "wcs": ...}</code> with a signed URL valid
for 7 days and the image's WCS (<code>ctype</code>, <code>crpix</code>, <code>crval</code>,
<code>cd</code>, <code>width</code>, <code>height</code>; FITS convention, y up from the
bottom row), absent for frames without one. <code>true</code>: a 302 redirect to that URL
(for <code>&lt;img src&gt;</code>).
<code>inline</code>: the image bytes themselves.</td></tr>
</table>

<h2>Response headers</h2>
<p><code>X-Thumbnail-Orientation</code> says how the image was turned: <code>north</code>
(north up, east left), <code>detector</code> (asked for), <code>detector-no-wcs</code> (the
frame has no usable celestial WCS: FITS row 1 at the bottom) or
<code>detector-spectrum</code> (spectra, arcs and lamp flats are never turned). Colour
composites are turned by the red frame's WCS and also carry
<code>X-Thumbnail-Alignment</code>: <code>wcs</code> or <code>none</code>.</p>

<h2>Examples</h2>
<p><code>GET /3863274/?width=500&amp;height=500&amp;label=So%20many%20stars</code></p>
<p><code>GET /3863274/?ra=13:25:12.96&amp;dec=-42:59:51&amp;fov=1.5&amp;image=true</code>: a
1.5 arcminute cutout around a target. Only the part of the frame it covers is decoded. A
cutout that falls partly outside the frame is padded (transparent in PNG and WebP, black in
JPEG) and answered with <code>X-Thumbnail-Cutout: padded</code> (else <code>inside</code>);
one entirely outside the frame is a 400 whose message gives the frame's footprint.</p>

<h2>Errors</h2>
<p>JSON <code>{"message": ...}</code> with status 400 (bad parameter, frame not eligible,
<code>ra</code>/<code>dec</code> on a frame without a usable WCS, or a cutout off the frame),
401/403 (the archive refused you), 404 (no such frame), 413 (frame too large),
422 (not a readable FITS image), 502/503/504 (archive or storage trouble); 403 too for an
unsigned request where the service requires signed URLs. An <code>image=true</code> or
<code>image=inline</code> request from an <code>&lt;img&gt;</code> tag (its
<code>Accept</code> prefers images) gets the same status with a PNG saying it instead.</p>
</body>
</html>
"""

#: Thumbnails are rendered on demand; crawlers following links would render the archive.
ROBOTS_TXT = "User-agent: *\nDisallow: /\n"
