"""The choice of a colour set's frames from archive records (`thumbnails.filter_sets`)."""

from __future__ import annotations

import pytest

from thumbnails.errors import FrameNotFound
from thumbnails.filter_sets import canonical_filter, is_narrowband, select_color_set


def _records(*frames: tuple[str, str | None]) -> list[dict]:
    """Records of (filter, observation_date) in archive order; ids 0, 1, 2..."""
    return [
        {"id": i, "primary_optical_element": name, "observation_date": when}
        for i, (name, when) in enumerate(frames)
    ]


def _ids(chosen) -> list[int]:
    return [frame["id"] for frame in chosen]


def test_without_a_requested_frame_the_first_of_each_filter_is_taken_as_before():
    records = _records(("B", None), ("V", None), ("rp", None), ("V", None), ("R", None))
    chosen = select_color_set(records)
    assert _ids(chosen) == [2, 1, 0]
    assert (chosen.family, chosen.filters) == ("johnson-cousins", ("rp", "V", "B"))


def test_r_and_rp_are_one_channel_the_asked_one_or_the_nearest_in_time():
    records = _records(
        ("R", "2026-01-02T10:00:00Z"),
        ("V", "2026-01-02T10:30:00Z"),
        ("B", "2026-01-02T10:31:00Z"),
        ("rp", "2026-01-02T10:29:00"),  # no zone: UTC, as the archive's are
    )
    assert _ids(select_color_set(records, records[1])) == [3, 1, 2]
    assert _ids(select_color_set(records, records[0])) == [0, 1, 2]


def test_a_tie_in_time_or_no_dates_takes_the_first_in_archive_order():
    records = _records(
        ("V", "2026-01-02T10:00:00Z"),
        ("B", "2026-01-02T10:10:00Z"),
        ("B", "2026-01-02T09:50:00Z"),
        ("rp", None),
        ("rp", "not a date"),
    )
    assert _ids(select_color_set(records, records[0])) == [3, 0, 1]


@pytest.mark.parametrize("spelling", ["H-Alpha", "h-alpha", "H-ALPHA", "Ha", " ha "])
def test_filter_names_match_in_any_case(spelling):
    assert canonical_filter(spelling) == "H-Alpha"
    assert is_narrowband([spelling, "oiii", "Sii"])
    assert not is_narrowband([spelling, "oiii", "rp"])
    assert not is_narrowband([])


def test_a_frame_of_no_family_gets_the_first_complete_family():
    records = _records(("w", None), ("OIII", None), ("SII", None), ("H-Alpha", None))
    chosen = select_color_set(records, records[0])
    assert (chosen.family, _ids(chosen)) == ("narrowband", [2, 3, 1])


def test_a_narrowband_palette_asks_for_a_narrowband_set():
    records = _records(("rp", None), ("V", None), ("B", None))
    with pytest.raises(FrameNotFound, match="narrowband set .*missing H-Alpha, OIII$"):
        select_color_set(records, records[0], "hoo")
