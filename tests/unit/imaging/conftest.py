"""Fixtures shared by the imaging tests."""

from __future__ import annotations

import pytest

from thumbnails.imaging import rice


@pytest.fixture
def tiles_decoded(monkeypatch):
    """Counts the tiles the Rice decoder decompresses (astropy's C decoder, one call a tile,
    which the row decoder calls)."""
    calls = []
    decompress, unquantize = rice.decoders(True)

    def counting(*args):
        calls.append(1)
        return decompress(*args)

    monkeypatch.setattr(rice, "decoders", lambda direct=True: (counting, unquantize))
    return calls
