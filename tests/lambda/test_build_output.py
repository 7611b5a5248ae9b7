"""What ``make build`` ships: every module precompiled, so a cold start compiles nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from .sam import BUILT_TEMPLATE

BUILT = BUILT_TEMPLATE.parent
#: The Lambda runtime's interpreter; bytecode is the same for every 3.13.x.
RUNTIME_TAG = "cpython-313"
#: PEP 552 flags: bit 0 marks hash-based .pyc, bit 1 asks Python to check the hash against the
#: source. Unchecked: Python loads the .pyc without reading the source at all.
HASH_BASED, CHECK_SOURCE = 0b01, 0b10

pytestmark = pytest.mark.integration


def _sources(artifact: Path) -> list[Path]:
    return sorted(path for path in artifact.rglob("*.py") if "__pycache__" not in path.parts)


@pytest.mark.parametrize(
    "artifact", ["ThumbnailFunction", "PregenerateFunction", "ScientificLayer"]
)
def test_every_module_has_unchecked_313_bytecode(artifact):
    sources = _sources(BUILT / artifact)
    assert len(sources) > 100, f"{artifact}: only {len(sources)} modules built"

    missing, checked = [], []
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{RUNTIME_TAG}.pyc"
        if not compiled.is_file():
            missing.append(source)
            continue
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
        if flags & HASH_BASED == 0 or flags & CHECK_SOURCE:
            checked.append(compiled)

    assert not missing, f"{artifact}: {len(missing)} modules without .pyc, e.g. {missing[:3]}"
    assert not checked, f"{artifact}: .pyc that would be checked against sources: {checked[:3]}"
