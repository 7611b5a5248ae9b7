"""AVIF in the built arm64 layer: its Pillow has the AVIF plugin, and the function answers
``format=avif`` and ``format=auto`` with AVIF bytes (``make test-lambda`` only)."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from tests.support.api_support import header

from .events import api_event
from .frames import assert_visible, frame_bytes, frame_key, image_of
from .sam import BUILT_TEMPLATE, DOCKER, INVOKE_LIMIT

pytestmark = pytest.mark.integration

#: Chrome's Accept for an <img>: format=auto must choose AVIF for it.
CHROME_IMG = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
#: Run in the local Lambda image with the built layer where Lambda puts it (/opt).
PROBE = (
    "import json, sys, PIL, PIL.features; "
    "assert PIL.__file__.startswith('/opt/python/'), PIL.__file__; "
    "print(json.dumps({'pillow': PIL.__version__, 'avif': PIL.features.check('avif'), "
    "'path': [p for p in sys.path if p.startswith('/opt')]}))"
)


def _pinned(package: str) -> str:
    requirements = BUILT_TEMPLATE.parents[2] / "layers" / "scientific" / "requirements.txt"
    for line in requirements.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise AssertionError(f"{package} is not pinned in {requirements}")


def test_the_layers_pillow_has_avif_inside_the_lambda_image(lambda_image):
    layer = BUILT_TEMPLATE.parent / "ScientificLayer"
    assert (layer / "python" / "PIL").is_dir(), f"no Pillow in {layer}: run `make build`"
    result = subprocess.run(
        [DOCKER, "run", "--rm", "--platform", "linux/arm64", "--network", "none"]
        # The image's python3.13 with the layer on the path as its bootstrap puts it there
        # (scripts/lambda-image/bootstrap).
        + ["--volume", f"{layer}:/opt:ro", "--env", "PYTHONPATH=/opt/python"]
        + ["--entrypoint", "/usr/bin/python3"]
        + [lambda_image, "-c", PROBE],
        capture_output=True,
        text=True,
        check=False,
        timeout=INVOKE_LIMIT,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert "/opt/python" in found["path"], found
    assert found["pillow"] == _pinned("pillow"), found  # the layer's pin, not another Pillow
    assert found["avif"] is True, found


def test_format_auto_answers_avif_to_a_browser(sam, stack):
    # Not a preset's box: on a pregenerated preset (200 x 200) `auto` takes the format
    # pregeneration wrote (JPEG by default), so that it is a cache hit.
    frame = stack.add_frame(frame_key(302), frame_bytes(seed=302))
    event = api_event(
        f"/{frame.id}/", {"width": "180", "height": "180", "format": "auto", "image": "inline"}
    )
    event["headers"]["Accept"] = CHROME_IMG
    event["multiValueHeaders"]["Accept"] = [CHROME_IMG]

    result = sam.invoke("ThumbnailFunction", event, label="format=auto, AVIF")

    assert result["statusCode"] == 200, {k: v for k, v in result.items() if k != "body"}
    assert header(result, "Content-Type") == "image/avif"
    assert header(result, "Vary") == "Accept"
    image = image_of(base64.b64decode(result["body"]))
    assert image.format == "AVIF"
    assert max(image.size) == 180
    assert_visible(image)
