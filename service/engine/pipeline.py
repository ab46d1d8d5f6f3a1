"""The chopping pipeline: decode → features → network → bar decoder → candidates → diversify → slices.

Each step is a plain function over arrays (see the sibling modules); :class:`Chopper` holds the loaded model and
runs them in order. Nothing here knows about HTTP or the command line.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from service.engine.bars import BarGrid, decode_bars
from service.engine.candidates import Candidates, pick_candidates
from service.engine.diversify import select_diverse
from service.engine.harmonic import harmonic_vectors
from service.engine.model import Activations, FrameModel
from service.engine.params import ChopParams
from service.engine.result import Chop, ChopResult
from service.engine.slices import cut_points, slice_wav_bytes
from shared_features import FEATURE_SPEC, AudioDecodeError, DecodedAudio, FrameFeatures, compute_features, decode_audio
from shared_features.audio import DEFAULT_MAX_SAMPLES, AudioTooLong

# A chop snaps to the strongest onset within this of its beat, so the pad starts on the attack (±1–2 frames).
SNAP_RADIUS_S = 0.035
# Diversification compares the harmonic content of the first second after each candidate (the seed's choice,
# kept: 0.25–2 s windows were tried on the drum stems, 1 s was best).
HARMONIC_WINDOW_S = 1.0
SILENCE_PEAK = 1e-4

BarDecoder = Callable[[Activations, FrameFeatures], BarGrid]


class RecordTooLong(ValueError):
    """The record is longer than the configured maximum duration."""


class SilentRecord(ValueError):
    """The record holds only silence: there is nothing to chop."""


class RecordTooShort(ValueError):
    """The record is shorter than one analysis frame: there is nothing to chop."""


@dataclass(frozen=True)
class Analysis:
    """What the engine hears in a record: its features, the network's activations and the decoded grid."""

    features: FrameFeatures
    activations: Activations
    grid: BarGrid


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
    """Chops records with one loaded model. Thread-safe: it holds no per-record state.

    ``bar_decoder`` turns activations into the beat/bar grid; the default is our bar-pointer HMM
    (:func:`decode_bars`). The quality bench swaps it (and the model) for its ablations.
    """

    def __init__(
        self,
        model: FrameModel,
        *,
        max_duration_s: float | None = None,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        bar_decoder: BarDecoder | None = None,
    ) -> None:
        self.model = model
        self.spec = FEATURE_SPEC
        self.max_duration_s = max_duration_s
        self.max_samples = max_samples
        self.bar_decoder: BarDecoder = bar_decoder or default_bar_decoder

    def analyse(self, audio: DecodedAudio, clock: _StageClock | None = None) -> Analysis:
        """Features, activations and the decoded grid of a decoded record."""
        clock = clock or _StageClock()
        with clock.stage("features"):
            features = compute_features(audio.mono, self.spec)
        with clock.stage("inference"):
            activations = self.model.predict(features.model_input)
        with clock.stage("beats"):
            grid = self.bar_decoder(activations, features)
        return Analysis(features=features, activations=activations, grid=grid)

    def chop(self, source: str | Path | bytes, params: ChopParams | None = None) -> ChoppedRecord:
        """Chop a record given as a path or the file's bytes.

        Raises AudioDecodeError (not audio), RecordTooLong, SilentRecord; never returns fewer chops than there
        are distinct candidates, nor more than ``params.chops``.
        """
        params = params or ChopParams()
        clock = _StageClock()
        spec = self.spec
        with clock.stage("decode"):
            try:
                audio = decode_audio(
                    source, spec.sample_rate, max_samples=self.max_samples, max_duration_s=self.max_duration_s
                )
            except AudioTooLong as error:  # refused from the header, or once streaming passes the limit
                raise RecordTooLong(str(error)) from error
        if audio.mono.shape[0] < spec.hop_length:
            raise RecordTooShort(f"the record is {audio.duration_s * 1000:.1f} ms long: there is nothing to chop")
        if float(np.max(np.abs(audio.mono))) < SILENCE_PEAK:
            raise SilentRecord("the record is silent: there is nothing to chop")
        analysis = self.analyse(audio, clock)
        features, grid = analysis.features, analysis.grid
        rate = features.frame_rate_hz
        with clock.stage("candidates"):
            candidates = pick_candidates(
                beats_s=grid.beats_s,
                downbeats_s=grid.downbeats_s,
                chop_activation=analysis.activations.chop,
                onset_envelope=features.onset_envelope,
                frame_rate_hz=rate,
                duration_s=audio.duration_s,
                threshold=params.threshold,
                top_n=params.top_n,
                minimum=params.chops,
                min_distance_s=params.min_distance_s,
                snap_radius_frames=round(SNAP_RADIUS_S * rate),
            )
        with clock.stage("diversification"):
            frames = np.rint(candidates.times_s * rate).astype(np.int64)
            harmonic = harmonic_vectors(
                features.log_bands, frames, window_frames=max(1, round(HARMONIC_WINDOW_S * rate))
            )
            order = select_diverse(candidates.scores, harmonic, params.chops, params.diversity)
        chops = self._chops(audio, candidates, order, params)
        result = ChopResult(
            duration=audio.duration_s,
            sample_rate=audio.original_rate,
            channels=audio.channels,
            params=params.to_dict(),
            model_id=self.model.model_id,
            feature_version=spec.version,
            tempo_bpm=grid.tempo_bpm if grid.beats_s.size else None,
            beats_per_bar=grid.beats_per_bar if grid.beats_s.size else None,
            beats_s=grid.beats_s,
            downbeats_s=grid.downbeats_s,
            chops=chops,
            candidates=candidates.size,
            timings_s=clock.timings,
        )
        return ChoppedRecord(result=result, audio=audio)

    def _chops(self, audio: DecodedAudio, candidates: Candidates, order: list[int], params: ChopParams) -> list[Chop]:
        starts_s = candidates.times_s[order]
        time_order = np.argsort(starts_s, kind="stable")
        bounds = cut_points(starts_s[time_order], audio.frames, audio.original_rate, audio, params.max_length_s)
        rate = float(audio.original_rate)
        return [
            Chop(
                index=index + 1,
                start=start / rate,
                end=end / rate,
                chop_activation=float(candidates.chop_activation[order[chosen]]),
                score=float(candidates.scores[order[chosen]]),
                rank=int(chosen) + 1,
                downbeat=bool(candidates.on_downbeat[order[chosen]]),
                start_sample=start,
                end_sample=end,
            )
            for index, (chosen, (start, end)) in enumerate(zip(time_order, bounds, strict=True))
        ]


def default_bar_decoder(activations: Activations, features: FrameFeatures) -> BarGrid:
    """Our bar-pointer HMM over the network's beat and downbeat activations."""
    return decode_bars(activations.beat, activations.downbeat, frame_rate_hz=features.frame_rate_hz)


def slice_name(chop: Chop) -> str:
    return f"chop_{chop.index:02d}.wav"


def slice_files(record: ChoppedRecord, bit_depth: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(file name, WAV bytes) of every chop, in time order, at the record's own rate and channels."""
    depth = bit_depth or int(record.result.params.get("bit_depth", 16))
    audio = record.audio
    for chop in record.result.chops:
        data = slice_wav_bytes(audio, chop.start_sample, chop.end_sample, audio.original_rate, audio.channels, depth)
        yield slice_name(chop), data


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
    "Analysis",
    "AudioDecodeError",
    "BarDecoder",
    "ChoppedRecord",
    "Chopper",
    "RecordTooLong",
    "RecordTooShort",
    "SilentRecord",
    "result_json",
    "slice_files",
    "write_slices",
    "write_zip",
    "zip_bytes",
]
