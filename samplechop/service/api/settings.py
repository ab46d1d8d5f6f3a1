"""Every setting of the HTTP service, in one class, read from ``SAMPLECHOP_*`` environment variables."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from samplechop.service.engine import DEFAULT_MODEL_PATH

MIB = 1024 * 1024
# A 10-minute CD-quality WAV (44.1 kHz × 2 channels × 16 bit × 600 s) is 105.8 MB plus the multipart framing:
# 128 MiB leaves room for that with a margin, and no more.
DEFAULT_MAX_UPLOAD_BYTES = 128 * MIB


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
    store_options: dict[str, Any] = Field(
        default_factory=dict,
        description='fsspec options of the store, as JSON (e.g. {"endpoint_url": "http://127.0.0.1:9000"})',
    )
    max_upload_bytes: int = Field(
        DEFAULT_MAX_UPLOAD_BYTES, ge=1, description="largest request body accepted (bytes; 128 MiB)"
    )
    max_duration_s: float = Field(600.0, gt=0, description="longest record accepted (seconds)")
    result_ttl_s: float = Field(3600.0, gt=0, description="how long a stored result can be fetched again (seconds)")
    max_store_bytes: int = Field(
        2 * 1024 * MIB,
        ge=1,
        description="total size of the results store; past it the oldest results are removed first (bytes)",
    )
    sweep_interval_s: float = Field(
        60.0, gt=0, description="how often each process removes expired results and enforces the size cap (seconds)"
    )
    worker_threads: int = Field(
        default_factory=_default_worker_threads, ge=1, description="records chopped at once per process"
    )
    max_concurrent_uploads: int = Field(
        8,
        ge=1,
        description="requests per process holding an upload (being received, queued or chopped); "
        "past it POST /chop answers 503 with Retry-After",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a request's head must arrive within this many seconds of its first byte (or of "
        "the connection opening)",
    )
    body_timeout_s: float = Field(
        300.0, gt=0, description="a request body must arrive whole within this many seconds of its head"
    )
    body_idle_timeout_s: float = Field(
        20.0, gt=0, description="longest silence while a request body is arriving (seconds)"
    )
    keep_alive_timeout_s: float = Field(5.0, gt=0, description="an idle kept-alive connection is closed after this")
    workers: int = Field(1, ge=1, description="uvicorn worker processes (`samplechop serve --workers` wins)")
    warmup: bool = Field(True, description="chop a synthetic record at startup, before /readyz says ready")
