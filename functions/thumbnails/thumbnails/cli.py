"""The command line: ``python -m thumbnails {render,backfill,serve,sign} ...``.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this module only dispatches and turns domain errors into a one-line
message with exit code 2 (no traceback for anything a user can cause).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .errors import ThumbnailError
from .settings import SettingsError

#: subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "render": ("thumbnails.render_cli", "render FITS frames into a thumbnail file"),
    "backfill": ("thumbnails.backfill", "enqueue the frames under an S3 prefix for pregeneration"),
    "serve": ("thumbnails.local.server", "run the whole service locally (API, S3, archive)"),
    "sign": ("thumbnails.request_signing", "sign a request URL (REQUEST_SIGNING_SECRET set)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for domain errors
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. Only `command`'s module is imported (all of them when None), so
    one subcommand's heavy imports never slow another down or break it."""
    parser = _Parser(prog="thumbnails", description="FITS thumbnail service tools.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if command in (None, name):
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
            command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((arg for arg in argv if arg in SUBCOMMANDS), None)
    args = build_parser(chosen).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (ThumbnailError, SettingsError) as error:
        print(f"thumbnails {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
