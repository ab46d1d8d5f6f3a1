"""The chopping pipeline: decode → features → classify → candidates → diversify → slices.

Each step is a plain function over arrays (see the sibling modules); :class:`Chopper` holds the loaded model and
runs them in order. Nothing here knows about HTTP or the command line.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from service.engine.beats import track_beats
from service.engine.candidates import pick_candidates, window_max
from service.engine.diversify import select_diverse
from service.engine.model import ChopModel
from service.engine.params import ChopParams
from service.engine.result import Chop, ChopResult
from service.engine.slices import cut_points, faded, wav_bytes
from shared_features import (
    FEATURE_SPEC,
    AudioDecodeError,
    DecodedAudio,
    decode_audio,
    harmonic_frames,
    record_features,
)
from shared_features.frames import frames_to_seconds, mel_onset_strength, seconds_to_frames, upsample_envelope

MERGE_S = 0.010
SNAP_RADIUS_S = 0.035
HARMONIC_WINDOW_S = 1.0
SILENCE_PEAK = 1e-4
ONSET_HOP_FACTOR = 2  # the onset envelope is taken at 2 × the feature hop, then interpolated


_FEATURE_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="samplechop-features")


class RecordTooLong(ValueError):
    """The record is longer than the configured maximum duration."""


class SilentRecord(ValueError):
    """The record holds only silence: there is nothing to chop."""


class RecordTooShort(SilentRecord):
    """The record is shorter than one analysis frame: there is nothing to chop (the CQT cannot even run)."""


@dataclass
class ChoppedRecord:
    """A chop result together with the decoded audio its slices are cut from."""

    result: ChopResult
    audio: DecodedAudio


class _StageClock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started


class Chopper:
    """Chops records with one loaded model. Thread-safe: it holds no per-record state."""

    def __init__(self, model: ChopModel, *, max_duration_s: float | None = None) -> None:
        self.model = model
        self.spec = FEATURE_SPEC
        self.max_duration_s = max_duration_s

    def chop(self, source: str | Path | bytes, params: ChopParams | None = None) -> ChoppedRecord:
        """Chop a record given as a path or the file's bytes.

        Raises AudioDecodeError (not audio), RecordTooLong, SilentRecord; never returns fewer chops than there
        are distinct candidates, nor more than ``params.chops``.
        """
        params = params or ChopParams()
        clock = _StageClock()
        spec = self.spec
        with clock.stage("decode"):
            audio = decode_audio(source, spec.sample_rate)
        if self.max_duration_s is not None and audio.duration_s > self.max_duration_s:
            raise RecordTooLong(f"the record is {audio.duration_s:.1f} s long; the limit is {self.max_duration_s:g} s")
        if audio.mono.shape[0] < spec.hop_length:
            raise RecordTooShort(f"the record is {audio.duration_s * 1000:.1f} ms long: there is nothing to chop")
        if float(np.max(np.abs(audio.mono))) < SILENCE_PEAK:
            raise SilentRecord("the record is silent: there is nothing to chop")
        with clock.stage("features"):
            # The onset envelope and the CQT are independent FFT work that releases the GIL: overlap them.
            onset_job = _FEATURE_POOL.submit(
                mel_onset_strength, audio.mono, spec.sample_rate, ONSET_HOP_FACTOR * spec.hop_length
            )
            windows, cqt = record_features(audio.mono, spec)
            coarse_onsets = onset_job.result()
            onsets = upsample_envelope(coarse_onsets, ONSET_HOP_FACTOR, windows.shape[0])
        with clock.stage("inference"):
            probabilities = self.model.predict(windows)
        with clock.stage("beats"):
            beats = track_beats(onsets, spec.sample_rate, spec.hop_length)
        with clock.stage("candidates"):
            to_frames = spec.sample_rate / spec.hop_length
            radius = round(SNAP_RADIUS_S * to_frames)
            candidates, scores = pick_candidates(
                probabilities,
                onsets,
                threshold=params.threshold,
                top_n=params.top_n,
                minimum=params.chops,
                min_distance_frames=max(1, round(params.min_distance_s * to_frames)),
                merge_frames=max(1, round(MERGE_S * to_frames)),
                snap_radius_frames=radius,
                beat_frames=beats,
            )
            candidate_probabilities = window_max(probabilities, candidates, radius)
        with clock.stage("diversification"):
            harmonic = harmonic_frames(
                cqt, candidates, window_frames=max(1, round(HARMONIC_WINDOW_S * to_frames)), normalise=True
            )
            order = select_diverse(scores, harmonic, params.chops, params.diversity)
        chops = self._chops(audio, candidates, candidate_probabilities, scores, order, params)
        result = ChopResult(
            duration=audio.duration_s,
            sample_rate=audio.original_rate,
            channels=audio.channels,
            params=params.to_dict(),
            model_id=self.model.model_id,
            feature_version=spec.version,
            chops=chops,
            candidates=int(candidates.size),
            timings_s=clock.timings,
        )
        return ChoppedRecord(result=result, audio=audio)

    def _chops(
        self,
        audio: DecodedAudio,
        candidates: np.ndarray,
        probabilities: np.ndarray,
        scores: np.ndarray,
        order: list[int],
        params: ChopParams,
    ) -> list[Chop]:
        chosen_frames = candidates[order]
        starts_s = frames_to_seconds(chosen_frames, self.spec.hop_length, self.spec.sample_rate)
        time_order = np.argsort(starts_s, kind="stable")
        bounds = cut_points(
            starts_s[time_order], audio.original.shape[0], audio.original_rate, audio.original, params.max_length_s
        )
        rate = float(audio.original_rate)
        return [
            Chop(
                index=index + 1,
                start=start / rate,
                end=end / rate,
                probability=float(probabilities[order[chosen]]),
                score=float(scores[order[chosen]]),
                rank=int(chosen) + 1,
                start_sample=start,
                end_sample=end,
            )
            for index, (chosen, (start, end)) in enumerate(zip(time_order, bounds, strict=True))
        ]


def slice_name(chop: Chop) -> str:
    return f"chop_{chop.index:02d}.wav"


def slice_files(record: ChoppedRecord, bit_depth: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(file name, WAV bytes) of every chop, in time order, at the record's own rate and channels."""
    depth = bit_depth or int(record.result.params.get("bit_depth", 16))
    audio = record.audio
    for chop in record.result.chops:
        segment = audio.original[chop.start_sample : chop.end_sample]
        yield slice_name(chop), wav_bytes(faded(segment, audio.original_rate), audio.original_rate, depth)


def result_json(record: ChoppedRecord, extra: dict[str, object] | None = None) -> str:
    document = record.result.to_dict()
    document["chops"] = [
        {**chop, "file": slice_name(c)} for chop, c in zip(document["chops"], record.result.chops, strict=True)
    ]
    if extra:
        document.update(extra)
    return json.dumps(document, indent=2)


def write_zip(record: ChoppedRecord, target: IO[bytes], extra: dict[str, object] | None = None) -> None:
    """Write the slices and ``chops.json`` as a zip archive to an open binary file."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in slice_files(record):
            archive.writestr(name, data)
        archive.writestr("chops.json", result_json(record, extra))


def zip_bytes(record: ChoppedRecord, extra: dict[str, object] | None = None) -> bytes:
    buffer = io.BytesIO()
    write_zip(record, buffer, extra)
    return buffer.getvalue()


def write_slices(record: ChoppedRecord, out_dir: Path) -> list[Path]:
    """Write every slice and ``chops.json`` into ``out_dir``; each file appears whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    files = [*slice_files(record), ("chops.json", result_json(record).encode())]
    for name, data in files:
        target = out_dir / name
        partial = target.with_name(f".{name}.partial")
        partial.write_bytes(data)
        partial.replace(target)
        written.append(target)
    return written


__all__ = [
    "AudioDecodeError",
    "ChoppedRecord",
    "Chopper",
    "RecordTooLong",
    "RecordTooShort",
    "SilentRecord",
    "result_json",
    "seconds_to_frames",
    "slice_files",
    "write_slices",
    "write_zip",
    "zip_bytes",
]
