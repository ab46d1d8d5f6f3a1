"""The service's work, in plain functions: load the model, chop an upload, store and fetch its zip.

Everything CPU-bound runs in worker threads (a pool of ``worker_threads``), never on the event loop.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import partial

import anyio
import anyio.to_thread
import numpy as np
import soundfile as sf

from service.api.settings import Settings
from service.api.store import ResultStore, new_id
from service.engine import ChopModel, ChopParams, Chopper, RecordTooLong, result_json, write_zip

logger = logging.getLogger("samplechop.api")

WARMUP_RATE = 44_100


def zip_url(result_id: str) -> str:
    return f"/chops/{result_id}.zip"


@dataclass(frozen=True)
class Chopped:
    """A chopped, stored record: its id and its JSON result document."""

    result_id: str
    document: str


def load_chopper(settings: Settings) -> Chopper:
    """Load the model once (raises ModelLoadError, a feature-spec mismatch included)."""
    model = ChopModel(settings.model_path, threads=1)
    return Chopper(model, max_duration_s=settings.max_duration_s)


def warm_up(chopper: Chopper) -> None:
    """Chop a synthetic two-second record, so the first real request pays no JIT compilation."""
    time = np.arange(2 * WARMUP_RATE) / WARMUP_RATE
    signal = 0.3 * np.sin(2 * np.pi * 220.0 * time) * np.exp(-4.0 * (time % 0.5))
    buffer = io.BytesIO()
    sf.write(buffer, signal.astype(np.float32), WARMUP_RATE, format="WAV", subtype="PCM_16")
    chopper.chop(buffer.getvalue(), ChopParams(chops=2, top_n=4))


def check_duration(data: bytes, max_duration_s: float | None) -> None:
    """Refuse a record longer than the limit from its header, before decoding it all (a compressed record of
    silence can be tiny on the wire yet gigabytes decoded). Unreadable headers are left to the decoder."""
    if max_duration_s is None:
        return
    try:
        info = sf.info(io.BytesIO(data))
    except Exception:
        return
    if info.samplerate > 0 and info.frames / info.samplerate > max_duration_s:
        duration = info.frames / info.samplerate
        raise RecordTooLong(f"the record is {duration:.1f} s long; the limit is {max_duration_s:g} s")


class ChopService:
    """The loaded chopper, the results store and the worker-thread pool, shared by all requests."""

    def __init__(self, chopper: Chopper, store: ResultStore, worker_threads: int) -> None:
        self.chopper = chopper
        self.store = store
        self.limiter = anyio.CapacityLimiter(worker_threads)

    @property
    def model_id(self) -> str:
        return self.chopper.model.model_id

    @property
    def feature_version(self) -> str:
        return self.chopper.spec.version

    def chop_and_store(self, data: bytes, params: ChopParams) -> Chopped:
        """Chop ``data``, store its zip (slices + chops.json) and return its id and JSON document. Blocks."""
        check_duration(data, self.chopper.max_duration_s)
        record = self.chopper.chop(data, params)
        result_id = new_id()
        extra: dict[str, object] = {"id": result_id, "zip_url": zip_url(result_id)}
        self.store.put(result_id, partial(write_zip, record, extra=extra))
        return Chopped(result_id, result_json(record, extra))

    async def chop(self, data: bytes, params: ChopParams) -> Chopped:
        return await anyio.to_thread.run_sync(self.chop_and_store, data, params, limiter=self.limiter)
