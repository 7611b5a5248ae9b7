"""``python -m thumbnails``: the command line (render, backfill, serve)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
