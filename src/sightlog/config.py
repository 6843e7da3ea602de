"""Settings, read from ``SIGHTLOG_*`` environment variables (and a ``.env`` file) by pydantic-settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGHTLOG_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8400
    workers: int = Field(1, ge=1, description="server processes sharing the port")
    data_dir: Path = Path("sightlog-data")
    # Defaults to SQLite inside data_dir; e.g. "sqlite:////var/lib/sightlog/events.db".
    database_url: str | None = None
    bootstrap_key: str | None = None
    # Where image bytes go: a local folder inside data_dir by default, or "s3://bucket/prefix" for any
    # S3-compatible store (credentials and endpoint from the usual AWS_* variables, or the two below).
    blob_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    max_body_bytes: int = Field(10 * MIB, description="JSON request bodies")
    max_image_bytes: int = Field(25 * MIB, description="one uploaded image")
    max_image_pixels: int = Field(100_000_000, description="decompression-bomb guard")
    max_batch_events: int = 100
    max_bundle_bytes: int = Field(25 * MIB, description="one bundle (tar or tar.gz request body)")
    max_bundle_unpacked_bytes: int = Field(50 * MIB, description="a bundle once un-gzipped (gzip-bomb guard)")
    max_bundle_members: int = Field(256, description="entries in one bundle archive")
    max_query_limit: int = 1000
    thumbnail_side: int = 320

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sightlog.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "images"
