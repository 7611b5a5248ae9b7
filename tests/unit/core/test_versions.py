"""A frame's version is the MD5 of its file, found without reading it when the archive or S3
already says it; an archive object is a frame when its name, type or first bytes say FITS."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from tests.support.fits_factory import reduced_frame_bytes
from thumbnails import frame_objects, versions

MD5 = "5d41402abc4b2a76b9719d911017c592"


class TestVersions:
    @pytest.mark.parametrize(
        ("value", "version"),
        [
            (MD5, MD5),
            (f'"{MD5}"', MD5),
            (f'W/"{MD5}"', MD5),
            (MD5.upper(), MD5),
            ("9b2cf535f27731c974343645a3985328-3", None),  # multipart: not an MD5
            (MD5[:-1], None),
            (MD5 + "0", None),
            (f"{MD5[:16]}/../{MD5[:13]}", None),
            ("", None),
            (None, None),
            (42, None),
        ],
    )
    def test_only_a_plain_md5_is_a_version(self, value, version):
        assert versions.plain_md5(value) == version

    def test_the_version_of_bytes_is_their_md5(self):
        data = reduced_frame_bytes((32, 32))
        assert versions.of_bytes(data) == hashlib.md5(data).hexdigest()

    @pytest.mark.parametrize(
        ("version_set", "version"),
        [
            ([{"md5": MD5}, {"md5": "0" * 32}], MD5),  # newest first
            ([{"md5": f'"{MD5.upper()}"'}], MD5),
            ([{"md5": "9b2cf535f27731c974343645a3985328-3"}], None),
            ([{"md5": None}], None),
            ([{}], None),
            (["not a mapping"], None),
            ([], None),
            (None, None),
            ("nonsense", None),
        ],
    )
    def test_a_record_names_its_newest_versions_md5(self, version_set, version):
        assert versions.of_record({"version_set": version_set}) == version
        assert versions.of_record({}) is None

    def test_a_download_is_named_by_its_plain_etag_else_by_its_bytes(self):
        data = b"some bytes"
        assert versions.of_download(data, MD5) == MD5
        assert versions.of_download(data, None) == hashlib.md5(data).hexdigest()
        multipart = "9b2cf535f27731c974343645a3985328-3"
        assert versions.of_download(data, multipart) == hashlib.md5(data).hexdigest()


class TestFrameObjects:
    @pytest.mark.parametrize(
        ("content_type", "first", "fits"),
        [
            ("image/fits", b"", True),
            ("application/fits", b"", True),
            ("Image/FITS; charset=binary", b"", True),
            (None, reduced_frame_bytes((32, 32))[:2880], True),
            ("binary/octet-stream", reduced_frame_bytes((32, 32))[:100], True),
            (None, gzip.compress(reduced_frame_bytes((32, 32)))[:200], True),
            (None, gzip.compress(b"a gzipped text file, not FITS"), False),
            (None, b"\x1f\x8b but not gzip data", False),
            (None, b"simple  = lower case is not FITS", False),
            ("text/plain", b"observing notes", False),
            (None, b"", False),
        ],
    )
    def test_fits_is_told_by_its_content_type_or_first_bytes(self, content_type, first, fits):
        assert frame_objects.looks_like_fits(content_type, first) is fits

    @pytest.mark.parametrize(
        ("key", "no_extension"),
        [
            ("3f2a/lsc1m005-fa15-20260101-0100-e91", True),
            ("LSC/fa15/20260101/lsc1m005-fa15-20260101-0100-e91", True),
            ("lsc/fa15/20260101/raw/lsc1m005-fa15-20260101-0100-e91.fits.fz", False),
            ("raw/notes.txt", False),
            ("raw/", False),
        ],
    )
    def test_the_archives_older_layouts_have_no_extension(self, key, no_extension):
        assert frame_objects.has_no_extension(key) is no_extension

    def test_a_name_is_fits_by_the_configured_suffixes_only(self):
        assert frame_objects.named_as_fits("raw/x-e91.fits.fz", (".fits", ".fits.fz"))
        assert not frame_objects.named_as_fits("raw/x-e91.FITS", (".fits", ".fits.fz"))
        assert not frame_objects.named_as_fits("raw/x-e91", (".fits", ".fits.fz"))
