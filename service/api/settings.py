"""Every setting of the HTTP service, in one class, read from ``SAMPLECHOP_*`` environment variables."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.engine import DEFAULT_MODEL_PATH


def _default_store_url() -> str:
    return str(Path(tempfile.gettempdir()) / "samplechop-results")


def _default_worker_threads() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Service settings; each field ``x`` is read from the environment variable ``SAMPLECHOP_X``."""

    model_config = SettingsConfigDict(env_prefix="SAMPLECHOP_", extra="ignore", frozen=True)

    model_path: Path = Field(DEFAULT_MODEL_PATH, description="ONNX chop model; its card sits beside it")
    store_url: str = Field(
        default_factory=_default_store_url,
        description="where results are kept: a directory, file:// URL or any fsspec URL (s3://bucket/prefix)",
    )
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1, description="largest request body accepted (bytes)")
    max_duration_s: float = Field(600.0, gt=0, description="longest record accepted (seconds)")
    result_ttl_s: float = Field(3600.0, gt=0, description="how long a stored result can be fetched again (seconds)")
    worker_threads: int = Field(
        default_factory=_default_worker_threads, ge=1, description="records chopped at once per process"
    )
    workers: int = Field(1, ge=1, description="uvicorn worker processes (`samplechop serve --workers` wins)")
    warmup: bool = Field(True, description="chop a synthetic record at startup, before /readyz says ready")
