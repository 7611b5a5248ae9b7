"""One API request in a process of its own, for the memory tests: ``python -m
tests.support.memory_child CASE_JSON`` prints ``{"status", "body", "downloads", "peak"}`` (peak:
``VmHWM``, bytes) as its last line.

The handler runs as in Lambda, with the environment it is given (the tests set
``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``): moto S3, the archive faked by `responses`, serving the
FITS files ``CASE["frames"]`` (written by the test, so that making them does not count in
this process's peak): one, or R, V and B when ``CASE["query"]`` asks for colour.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.api_support import BASENAME, FRAME_ID, ApiWorld, frame_record


def peak() -> int:
    """The peak RSS of this process (``VmHWM``; not ``ru_maxrss``, which a child inherits)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(case: dict) -> dict:
    files = [open(path, "rb").read() for path in case["frames"]]  # noqa: SIM115
    query = case["query"]
    with pytest.MonkeyPatch.context() as patch, ApiWorld.started(patch) as world:
        if query.get("color") == "true":
            listed = []
            for index, (name, fits) in enumerate(zip(("rp", "V", "B"), files, strict=True)):
                frame_id = FRAME_ID if name == "rp" else FRAME_ID + 100 + index
                basename = BASENAME if name == "rp" else f"coj2m002-ep02-20260102-{index:04d}-e91"
                record = frame_record(frame_id, basename, filter=name)
                world.add_frame(record, fits=fits, by_basename=False)
                listed.append(record)
            world.add_request_frames(listed)
        else:
            world.add_frame(fits=files[0])
        del files
        response = world.invoke(query=query)
        downloads = len(world.downloads())
    return {
        "status": response["statusCode"],
        "body": response["body"] if not response.get("isBase64Encoded") else "",
        "downloads": downloads,
        "peak": peak(),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
