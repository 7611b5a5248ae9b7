"""The imaging core is pure: none of its modules imports AWS, HTTP or the settings.

The core (``thumbnails.imaging``) turns FITS bytes into thumbnail bytes; the handlers around it
own the network and the environment. An import of boto3 or of `thumbnails.settings` creeping
into the core would tie rendering to Lambda (and slow every caller's import), so each module's
imports are read from its source, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
IMAGING = ROOT / "functions" / "thumbnails" / "thumbnails" / "imaging"

#: Third-party packages of the network and of Lambda.
FORBIDDEN_PACKAGES = {"boto3", "botocore", "requests", "aws_lambda_powertools", "urllib3"}
#: Modules of the package that the core may import from outside itself: pure parsing and errors.
#: (`filter_sets` is pure too: which filters make a colour set, which are narrowband.)
ALLOWED_PARENT_MODULES = {"params", "positions", "errors", "filter_sets"}
#: How the environment is read (the settings object owns that).
ENVIRONMENT_NAMES = {"environ", "getenv", "environb", "getenvb"}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative ones resolved."""
    package = ["thumbnails", "imaging"]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if node.module:
                found.append((node.lineno, module))
            else:  # from . import a, b: each name is a module
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def environment_reads(path: Path) -> list[tuple[int, str]]:
    """(line, name) of every ``os.environ``/``os.getenv``-style read in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_NAMES:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [
                (node.lineno, alias.name) for alias in node.names if alias.name in ENVIRONMENT_NAMES
            ]
    return found


def violations(path: Path) -> list[str]:
    bad = []
    for line, module in imports(path):
        parts = module.split(".")
        outside = parts[0] == "thumbnails" and parts[1:2] != ["imaging"]
        if parts[0] in FORBIDDEN_PACKAGES or (
            outside and (len(parts) < 2 or parts[1] not in ALLOWED_PARENT_MODULES)
        ):
            bad.append(f"{path.name}:{line} imports {module}")
    bad += [f"{path.name}:{line} reads {name}" for line, name in environment_reads(path)]
    return bad


MODULES = sorted(IMAGING.glob("*.py"))


def test_the_core_has_its_modules():
    names = {path.stem for path in MODULES}
    assert {"__init__", "render", "rice", "streaming", "mosaic"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_an_imaging_module_imports_nothing_of_aws_http_or_settings(path):
    assert violations(path) == []


def test_the_check_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import numpy\n"
        "from ..params import RenderLimits\n"
        "def f():\n"
        "    import boto3\n"
        "    from ..settings import Settings\n"
        "    from .. import store\n"
        "    from requests import Session\n"
        "    import os\n"
        "    return os.environ.get('X')\n"
    )
    assert violations(sample) == [
        "sample.py:4 imports boto3",
        "sample.py:5 imports thumbnails.settings",
        "sample.py:6 imports thumbnails.store",
        "sample.py:7 imports requests",
        "sample.py:9 reads environ",
    ]
