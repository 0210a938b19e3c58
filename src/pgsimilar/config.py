"""Settings, read from ``PGSIMILAR_*`` environment variables (and ``OPENAI_*`` for the openai embedder).

Build them where they are needed (``Settings()``); nothing here runs at import time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where the embedded database lives unless ``PGSIMILAR_DATA_DIR`` says otherwise."""
    return Path(platformdirs.user_data_dir("pgsimilar", appauthor=False))


class Settings(BaseSettings):
    """Everything pgsimilar can be configured with. Each field is ``PGSIMILAR_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="PGSIMILAR_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        description="libpq URL of a PostgreSQL server with pgvector; unset means the embedded server.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory of the embedded database.",
    )
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a connection.")

    max_content_chars: int = Field(
        default=1_000_000, ge=1, description="Longest text content a record may carry, in characters."
    )
    max_image_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1, description="Largest image file accepted, in bytes."
    )
    max_image_pixels: int = Field(
        default=50_000_000, ge=1, description="Largest image accepted, in pixels (decompression-bomb guard)."
    )
    max_id_chars: int = Field(default=512, ge=1, description="Longest record id, in characters.")
    upsert_batch_size: int = Field(
        default=1_000, ge=1, description="Records written per transaction by loaders such as the CLI."
    )
    index_maintenance_work_mem: str | None = Field(
        default=None,
        description="maintenance_work_mem of index builds, e.g. '1GB' (default: chosen from the machine's memory).",
    )

    auth: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="API keys required: 'on', 'off', or 'auto' (off only when the server binds to loopback).",
    )
    api_threads: int = Field(
        default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)),
        ge=1,
        description="Worker threads for model inference and database calls of the API.",
    )
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, description="Largest request body.")
    max_records_per_request: int = Field(default=10_000, ge=1)
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (JSON list).")
    compat_collection: str = Field(
        default="chunks",
        description="Collection (in namespace 'default') behind /embed and /search/pgvector.",
    )
    compat_embedder: str = Field(
        default="minilm", description="Embedder of that collection when it is created."
    )

    clip_model: str = Field(
        default="openai/clip-vit-base-patch32",
        description="Hugging Face id of the CLIP model of the 'clip' embedder (downloaded on first use).",
    )
    clip_path: Path | None = Field(
        default=None, description="A local directory with CLIP weights and processor files (no download)."
    )

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PGSIMILAR_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        validation_alias=AliasChoices("PGSIMILAR_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
    )
    openai_model: str = "text-embedding-3-small"
    openai_dimensions: int | None = Field(default=None, ge=1, le=16_000)
    openai_batch_size: int = Field(default=256, ge=1, le=2048)
    openai_timeout: float = Field(default=60.0, gt=0)
    openai_max_retries: int = Field(default=5, ge=0)

    # ---- upload jobs ----
    job_workers: int = Field(
        default=1,
        ge=0,
        description="Job worker threads inside `pgsimilar serve` (0: only `pgsimilar worker`).",
    )
    job_batch_size: int = Field(default=16, ge=1, le=1_000, description="Job items a worker claims at once.")
    job_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a worker's claim on items lasts; a worker that dies lets them go after this.",
    )
    job_poll_seconds: float = Field(default=1.0, gt=0, description="How often an idle worker looks for work.")
    job_max_attempts: int = Field(
        default=3, ge=1, description="Claims of one item (e.g. by workers that crashed) before it is failed."
    )
    max_upload_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, description="Largest upload request (files and archives)."
    )
    max_upload_items: int = Field(
        default=10_000, ge=1, description="Most items (files, archive members, lines, URLs) in one upload."
    )
    max_archive_unpacked_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1, description="Largest total size of an archive's unpacked files."
    )
    max_archive_ratio: float = Field(
        default=100.0, gt=1, description="Largest unpacked/packed size ratio of an archive (zip-bomb guard)."
    )
    url_allow_private_addresses: bool = Field(
        default=False,
        description="Fetch URLs on loopback, private, link-local and metadata addresses (off: refused).",
    )
    url_timeout_seconds: float = Field(default=30.0, gt=0, description="Time limit of one URL fetch.")
    url_max_redirects: int = Field(default=5, ge=0, le=20, description="Redirects followed per URL.")

    @field_validator("database_url")
    @classmethod
    def _blank_url_means_embedded(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("index_maintenance_work_mem")
    @classmethod
    def _memory_size(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        match = re.fullmatch(r"\s*(\d+)\s*(kb|mb|gb|tb)\s*", value, re.IGNORECASE)
        if not match:
            raise ValueError(f"expected a size such as '512MB' or '2GB', got {value!r}")
        units = {"kb": "kB", "mb": "MB", "gb": "GB", "tb": "TB"}
        return f"{int(match.group(1))}{units[match.group(2).lower()]}"

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None
