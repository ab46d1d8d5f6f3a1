"""The chopping pipeline: decode → features → network → bar decoder → candidates → diversify → slices → exports.

Each step is a plain function over arrays (see the sibling modules); :class:`Chopper` holds the loaded model and
runs them in order. Chops placed by hand (``ChopParams.points``) skip the candidates and diversification and are
sliced exactly there (or snapped to the grid or an onset). Every chop is then cut by the length mode
(:mod:`samplechop.service.engine.slicing`), gets its pad's MIDI note and its own key. The files a producer loads
(the WAV slices, the sampler programs and ``chops.json``) are made from the result by
:mod:`samplechop.service.engine.writers`. Nothing here knows about HTTP or the command line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samplechop.service.engine.bars import BarGrid, decode_bars
from samplechop.service.engine.candidates import Candidates, local_peaks, pick_candidates, window_max
from samplechop.service.engine.diversify import select_diverse
from samplechop.service.engine.exports import program_names, record_slug, slice_file_name
from samplechop.service.engine.harmonic import harmonic_vectors
from samplechop.service.engine.key import chop_keys, estimate_key
from samplechop.service.engine.model import Activations, FrameModel
from samplechop.service.engine.params import ChopParams, InvalidParameters
from samplechop.service.engine.result import Chop, ChoppedRecord, ChopResult
from samplechop.service.engine.slicing import LengthMode, slice_spans
from samplechop.shared_features import (
    FEATURE_SPEC,
    AudioDecodeError,
    DecodedAudio,
    FrameFeatures,
    compute_features,
    decode_audio,
)
from samplechop.shared_features.audio import DEFAULT_MAX_SAMPLES, AudioTooLong

# A chop snaps to the strongest onset within this of its beat, so the pad starts on the attack (±1–2 frames).
SNAP_RADIUS_S = 0.035
# Diversification compares the harmonic content of the first second after each candidate (the seed's choice,
# kept: 0.25–2 s windows were tried on the drum stems, 1 s was best).
HARMONIC_WINDOW_S = 1.0
SILENCE_PEAK = 1e-4
# Hand-placed points with snap=onset move to an onset at most this far away: the web page's own onset snap window
# (samplechop/service/static/js/edit.js, ONSET_SNAP_WINDOW_S), so a point lands where the page showed it would.
ONSET_SNAP_S = 0.15
# ...and to the nearest peak of the onset envelope that reaches this share of the strongest within that window:
# half keeps the hits of a drum pattern and drops the ripples of their decays (the envelope of a decaying snare
# wobbles at a few per cent of its attack in the synthetic grooves of tests/synth.py).
ONSET_PEAK_SHARE = 0.5

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


@dataclass(frozen=True)
class _Chosen:
    """The chop points before slicing, in the order they were chosen: times, the chop head's activation, scores,
    ranks; ``find_attacks`` is False for points to honour to the sample; ``candidates`` is how many were
    considered."""

    times_s: np.ndarray
    activation: np.ndarray
    scores: np.ndarray
    ranks: np.ndarray
    find_attacks: bool
    candidates: int


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

    def chop(
        self, source: str | Path | bytes, params: ChopParams | None = None, *, name: str | None = None
    ) -> ChoppedRecord:
        """Chop a record given as a path or the file's bytes; ``name`` (an upload's file name) names the slices
        (``<slug>_01.wav``; a path's own name by default, ``record`` for bytes without one).

        Raises AudioDecodeError (not audio), RecordTooLong, RecordTooShort, SilentRecord, and InvalidParameters
        for hand-placed points the record cannot hold; never returns fewer chops than there are distinct
        candidates, nor more than ``params.chops`` (``len(params.points)`` when they are given).
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
        if params.points is not None:
            _check_points_fit(params.points, audio)  # before the analysis: a bad request costs no CPU
        analysis = self.analyse(audio, clock)
        grid = analysis.grid
        if params.points is None:
            chosen = self._model_choice(audio, analysis, params, clock)
        else:
            with clock.stage("candidates"):
                chosen = _points_choice(params.points, analysis, params.snap)
        slug = record_slug(name if name is not None else Path(source).name if isinstance(source, (str, Path)) else "")
        with clock.stage("slicing"):
            chops = self._chops(audio, analysis, chosen, params, slug)
        with clock.stage("key"):
            key = estimate_key(analysis.features.chroma)
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
            candidates=chosen.candidates,
            slug=slug,
            key=key,
            exports=program_names(slug, params.export) if chops else [],
            timings_s=clock.timings,
        )
        return ChoppedRecord(result=result, audio=audio, params=params)

    def _model_choice(self, audio: DecodedAudio, analysis: Analysis, params: ChopParams, clock: _StageClock) -> _Chosen:
        """The model's chops: candidates from the grid and the chop head, then Maximal Average Diversification."""
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
            if params.mode == LengthMode.BARS and grid.downbeats_s.size:
                candidates = on_downbeats(candidates, grid.downbeats_s)
        with clock.stage("diversification"):
            frames = np.rint(candidates.times_s * rate).astype(np.int64)
            harmonic = harmonic_vectors(
                features.log_bands, frames, window_frames=max(1, round(HARMONIC_WINDOW_S * rate))
            )
            order = select_diverse(candidates.scores, harmonic, params.chops, params.diversity)
        return _Chosen(
            times_s=candidates.times_s[order],
            activation=candidates.chop_activation[order],
            scores=candidates.scores[order],
            ranks=np.arange(1, len(order) + 1),
            find_attacks=True,
            candidates=candidates.size,
        )

    def _chops(
        self, audio: DecodedAudio, analysis: Analysis, chosen: _Chosen, params: ChopParams, slug: str
    ) -> list[Chop]:
        """The chosen points as slices: spans by the length mode (samplechop.service.engine.slicing), pad notes, own
        keys."""
        time_order = np.argsort(chosen.times_s, kind="stable")
        rate = int(audio.original_rate)
        spans = slice_spans(
            chosen.times_s[time_order],
            audio,
            total_samples=audio.frames,
            sample_rate_hz=rate,
            grid=analysis.grid,
            mode=params.mode,
            bars=params.bars,
            beats=params.beats,
            max_length_s=params.max_length_s,
            one_shot_max_s=params.one_shot_max_s,
            find_attacks=chosen.find_attacks,
        )
        features = analysis.features
        keys = chop_keys(
            features.chroma,
            [(span.start_sample / rate, span.end_sample / rate) for span in spans],
            frame_rate_hz=features.frame_rate_hz,
        )
        root = root_note_for(len(spans), params.root_note)
        chops = []
        for index, (chosen_index, span, key) in enumerate(zip(time_order, spans, keys, strict=True), start=1):
            chops.append(
                Chop(
                    index=index,
                    start=span.start_sample / rate,
                    end=span.end_sample / rate,
                    chop_activation=float(chosen.activation[chosen_index]),
                    score=float(chosen.scores[chosen_index]),
                    rank=int(chosen.ranks[chosen_index]),
                    downbeat=span.on_downbeat,
                    start_sample=span.start_sample,
                    end_sample=span.end_sample,
                    attack=span.attack_sample / rate,
                    attack_sample=span.attack_sample,
                    mode=span.mode.value,
                    loop=span.loop,
                    bars=span.bars,
                    length_beats=span.length_beats,
                    tempo_bpm=span.tempo_bpm,
                    note=root + index - 1,
                    key=key,
                    file=slice_file_name(slug, index),
                )
            )
        return chops


def default_bar_decoder(activations: Activations, features: FrameFeatures) -> BarGrid:
    """Our bar-pointer HMM over the network's beat and downbeat activations."""
    return decode_bars(activations.beat, activations.downbeat, frame_rate_hz=features.frame_rate_hz)


def _check_points_fit(points: tuple[float, ...], audio: DecodedAudio) -> None:
    """Hand-placed points must start inside the record, each on a sample of its own (InvalidParameters)."""
    rate = audio.original_rate
    samples = np.rint(np.asarray(points, dtype=np.float64) * rate).astype(np.int64)
    past = np.flatnonzero(samples >= audio.frames)
    if past.size:
        raise InvalidParameters(
            f"points: {points[int(past[0])]:.6f} s is not inside the record, which is {audio.duration_s:.6f} s long"
        )
    same = np.flatnonzero(np.diff(samples) == 0)
    if same.size:
        first, second = points[int(same[0])], points[int(same[0]) + 1]
        raise InvalidParameters(f"points: {first:.6f} s and {second:.6f} s fall on the same sample at {rate} Hz")


def _points_choice(points: tuple[float, ...], analysis: Analysis, snap: str) -> _Chosen:
    """Chops placed by hand: exactly at ``points`` (``snap="off"``: to the sample, no attack search), or each moved
    to the nearest beat of the decoded grid (``grid``) or the nearest onset (``onset``) and then to its attack."""
    times = np.asarray(points, dtype=np.float64)
    features = analysis.features
    if snap == "grid" and analysis.grid.beats_s.size:
        beats = analysis.grid.beats_s
        times = beats[np.argmin(np.abs(times[:, None] - beats[None, :]), axis=1)]
    elif snap == "onset":
        times = nearest_onsets(times, features.onset_envelope, features.frame_rate_hz)
    if snap != "off":
        clash = np.flatnonzero(np.diff(times) <= 0.0)
        if clash.size:
            first, second = points[int(clash[0])], points[int(clash[0]) + 1]
            raise InvalidParameters(
                f"points: {first:.6f} s and {second:.6f} s snap to the same {'beat' if snap == 'grid' else 'onset'}"
                f" at {times[int(clash[0])]:.6f} s; remove one or snap off"
            )
    rate = features.frame_rate_hz
    frames = np.rint(times * rate).astype(np.int64)
    activation = window_max(analysis.activations.chop, frames, round(SNAP_RADIUS_S * rate))
    return _Chosen(
        times_s=times,
        activation=activation,
        scores=activation,
        ranks=np.arange(1, times.size + 1),
        find_attacks=snap != "off",
        candidates=int(times.size),
    )


def nearest_onsets(times_s: np.ndarray, onset_envelope: np.ndarray, frame_rate_hz: float) -> np.ndarray:
    """Each time moved to the nearest onset within :data:`ONSET_SNAP_S`: a local peak of the onset envelope that
    reaches :data:`ONSET_PEAK_SHARE` of the strongest peak in that window (a hit, not a ripple of its decay). A
    time with no onset near keeps its place. The slicer then finds the attack to the sample (±30 ms)."""
    peaks = local_peaks(onset_envelope)
    if peaks.size == 0:
        return np.asarray(times_s, dtype=np.float64).copy()
    peak_times = peaks / frame_rate_hz
    heights = onset_envelope[peaks].astype(np.float64)
    moved = []
    for time_s in np.asarray(times_s, dtype=np.float64):
        near = np.flatnonzero(np.abs(peak_times - time_s) <= ONSET_SNAP_S)
        if near.size == 0 or float(heights[near].max()) <= 0.0:
            moved.append(float(time_s))
            continue
        strong = near[heights[near] >= ONSET_PEAK_SHARE * float(heights[near].max())]
        moved.append(float(peak_times[strong[np.argmin(np.abs(peak_times[strong] - time_s))]]))
    return np.asarray(moved, dtype=np.float64)


def on_downbeats(candidates: Candidates, downbeats_s: np.ndarray) -> Candidates:
    """Candidates for ``bars`` chops: each moved to its nearest decoded downbeat (a candidate that is a downbeat
    stays where it is, on its onset), one per downbeat, the better-ranked kept (candidates are best first, and
    the downbeats rank first), so every bars chop starts a bar and loops from its first beat."""
    if candidates.size == 0 or downbeats_s.size == 0:
        return candidates
    nearest = np.argmin(np.abs(candidates.times_s[:, None] - downbeats_s[None, :]), axis=1)
    _, first = np.unique(nearest, return_index=True)
    kept = np.sort(first)  # best first, as the candidates were
    times = np.where(candidates.on_downbeat[kept], candidates.times_s[kept], downbeats_s[nearest[kept]])
    return Candidates(
        times_s=times,
        scores=candidates.scores[kept],
        chop_activation=candidates.chop_activation[kept],
        on_downbeat=np.ones(kept.size, dtype=bool),
    )


def root_note_for(chops: int, root_note: int) -> int:
    """Pad 1's note: ``root_note``, moved down when the chops would otherwise run past MIDI note 127."""
    return max(0, min(root_note, 128 - max(chops, 1)))


__all__ = [
    "Analysis",
    "AudioDecodeError",
    "BarDecoder",
    "Chopper",
    "RecordTooLong",
    "RecordTooShort",
    "SilentRecord",
    "nearest_onsets",
    "on_downbeats",
    "root_note_for",
]
