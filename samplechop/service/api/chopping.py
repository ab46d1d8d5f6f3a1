"""The service's work, in plain functions: load the model, chop an upload, store its result, render its zip.

Everything CPU-bound runs in worker threads (a pool of ``worker_threads``), never on the event loop.
"""

from __future__ import annotations

import io
import itertools
import logging
from dataclasses import dataclass

import anyio
import anyio.to_thread
import numpy as np
import soundfile as sf

from samplechop.service.api.results import PackedResult, pack_result
from samplechop.service.api.settings import Settings
from samplechop.service.api.store import ResultStore, StoredEntry, new_id
from samplechop.service.engine import (
    ChopModel,
    ChopParams,
    Chopper,
    program_files,
    result_json,
    slice_files,
    zip_name,
)

logger = logging.getLogger("samplechop.api")

WARMUP_RATE = 44_100


def zip_url(result_id: str) -> str:
    return f"/chops/{result_id}.zip"


@dataclass(frozen=True)
class Chopped:
    """A chopped, stored record: its id, its JSON result document and the compact result just stored under the id
    (a zip answer is rendered from this copy: the same bytes GET renders from the store, without reading them back).
    """

    result_id: str
    document: str
    packed: bytes


def load_chopper(settings: Settings) -> Chopper:
    """Load the model once (raises ModelLoadError, a feature-spec mismatch included)."""
    model = ChopModel(settings.model_path, threads=1)
    return Chopper(model, max_duration_s=settings.max_duration_s)


def open_store(settings: Settings) -> ResultStore:
    return ResultStore(
        settings.store_url,
        settings.result_ttl_s,
        max_bytes=settings.max_store_bytes,
        storage_options=settings.store_options,
    )


def warm_up(chopper: Chopper) -> None:
    """Chop a synthetic two-second record, so the first real request pays no JIT compilation."""
    time = np.arange(2 * WARMUP_RATE) / WARMUP_RATE
    signal = 0.3 * np.sin(2 * np.pi * 220.0 * time) * np.exp(-4.0 * (time % 0.5))
    buffer = io.BytesIO()
    sf.write(buffer, signal.astype(np.float32), WARMUP_RATE, format="WAV", subtype="PCM_16")
    record = chopper.chop(buffer.getvalue(), ChopParams(chops=2, top_n=4))
    pack_result(itertools.chain(slice_files(record), program_files(record).items()), created=0.0)  # FLAC's first
    # use is slow too


def open_result(store: ResultStore, result_id: str) -> tuple[StoredEntry, PackedResult] | None:
    """A stored result opened for rendering its zip, or None when it is unknown or expired. Blocks."""
    entry = store.open(result_id)
    if entry is None:
        return None
    try:
        return entry, PackedResult(entry.handle)
    except BaseException:
        entry.handle.close()
        raise


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

    def chop_and_store(self, data: bytes, params: ChopParams, name: str | None = None) -> Chopped:
        """Chop ``data`` (``name``: the upload's file name, which names the slices and the zip), store its compact
        result (slices as FLAC, the sampler programs and the document) and return its id, JSON document and that
        compact result. The zip is rendered only when someone asks for it. Blocks."""
        record = self.chopper.chop(data, params, name=name or "")
        result_id = new_id()
        extra: dict[str, object] = {"id": result_id, "zip_url": zip_url(result_id)}
        document = result_json(record, extra)
        # One slice at a time: only its WAV and the FLACs so far are held beside the decoded record.
        files = itertools.chain(slice_files(record), program_files(record).items(), [("chops.json", document.encode())])
        packed = pack_result(files, created=self.store.clock(), download_name=zip_name(record))
        del record, files  # the decoded audio, before the (possibly slow) write to the store
        self.store.put(result_id, packed)
        return Chopped(result_id, document, packed)

    async def chop(self, data: bytes, params: ChopParams, name: str | None = None) -> Chopped:
        return await anyio.to_thread.run_sync(self.chop_and_store, data, params, name, limiter=self.limiter)
