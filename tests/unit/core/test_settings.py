"""Settings come from the environment once, with the old service's names."""

from __future__ import annotations

import pytest

from thumbnails.settings import ENVIRONMENT, Settings, SettingsError


class TestSettings:
    def test_defaults_match_the_old_service(self):
        settings = Settings.from_env({})
        assert settings.archive_api_url == "http://localhost/"
        assert settings.required_frame_validation_keys == (
            "configuration_type",
            "request_id",
            "filename",
        )
        assert "EXPOSE" in settings.valid_configuration_types
        assert settings.valid_configuration_types_for_color == ("EXPOSE", "STANDARD")
        assert settings.presigned_url_expiry == 7 * 24 * 3600
        assert settings.max_thumbnail_size == 4096
        assert settings.max_frame_pixels == 150_000_000

    def test_old_aws_bucket_name_is_accepted(self):
        assert Settings.from_env({"AWS_BUCKET": "old"}).thumbnail_bucket == "old"
        both = {"AWS_BUCKET": "old", "THUMBNAIL_BUCKET": "new"}
        assert Settings.from_env(both).thumbnail_bucket == "new"

    def test_archive_url_always_ends_with_a_slash(self):
        settings = Settings.from_env({"ARCHIVE_API_URL": "https://archive-api.example.org"})
        assert settings.archive_api_url == "https://archive-api.example.org/"

    def test_lists_are_comma_separated_and_trimmed(self):
        settings = Settings.from_env({"VALID_CONFIGURATION_TYPES": " EXPOSE , BIAS,, "})
        assert settings.valid_configuration_types == ("EXPOSE", "BIAS")

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("MAX_THUMBNAIL_SIZE", "big"),
            ("MAX_FRAME_PIXELS", "0"),
            ("ARCHIVE_TIMEOUT", "-1"),
            ("PRESIGNED_URL_EXPIRY", "604801"),
            ("THUMBNAIL_EXPIRATION_DAYS", "0"),
            ("THUMBNAIL_EXPIRATION_DAYS", "thirty"),
        ],
    )
    def test_unusable_values_are_refused_by_name(self, name, value):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})

    def test_thumbnails_must_outlive_the_urls_handed_out_for_them(self):
        assert Settings.from_env({}).thumbnail_expiration_days == 30
        with pytest.raises(SettingsError, match="THUMBNAIL_EXPIRATION_DAYS"):
            Settings.from_env({"THUMBNAIL_EXPIRATION_DAYS": "7"})  # a 7-day URL
        short = {"THUMBNAIL_EXPIRATION_DAYS": "2", "PRESIGNED_URL_EXPIRY": "3600"}
        assert Settings.from_env(short).thumbnail_expiration_days == 2

    def test_settings_are_frozen(self):
        settings = Settings.from_env({})
        with pytest.raises(AttributeError):
            settings.thumbnail_bucket = "other"  # type: ignore[misc]

    def test_every_documented_variable_has_a_default(self):
        assert all(isinstance(default, str) for default in ENVIRONMENT.values())
        Settings.from_env(dict(ENVIRONMENT))
