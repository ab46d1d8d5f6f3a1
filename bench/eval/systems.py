"""Systems under evaluation: anything that maps a dev record to chop points and, optionally, a beat grid and tempo.

A :data:`System` is a callable ``DevRecord → SystemOutput`` (or a sequence of outputs for a stochastic system:
its figures are averaged over the runs, record by record). Systems that do not chop leave ``chops_s`` None;
systems that do not track beats leave ``beats_s``/``downbeats_s``/``tempo_bpm`` None; the tables show "—" there.

Baselines use only librosa and share one analysis per record (onset envelope, onsets, tracked beats). The engine
adapters wrap ``samplechop.service.engine``; an ablation is just another system — :func:`engine_system` takes any model
object the engine's :class:`~samplechop.service.engine.Chopper` accepts (see :class:`ConstantNetwork`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import librosa
import numpy as np

from bench.eval.data import HOP_LENGTH, SAMPLE_RATE_HZ, DevRecord

if TYPE_CHECKING:
    from samplechop.service.engine import ChopParams, ChopResult

SEED_MODEL = Path(__file__).resolve().parent.parent / "models" / "seed.onnx"
CHOPS = 8  # K, the engine's default chop count (ChopParams.chops)
RANDOM_SEEDS = 20  # random points: the mean over this many seeds (the original bench)
MIN_GAP_S = 0.25  # baselines keep their top-K at least this far apart: the engine's default min_distance
BEATS_PER_BAR = 4  # the librosa bar grid: every 4th tracked beat is a bar start (4/4 assumed, as in the engine)


@dataclass(frozen=True)
class SystemOutput:
    """What a system says about one record, in seconds (sorted arrays) and BPM."""

    chops_s: np.ndarray | None
    beats_s: np.ndarray | None = None
    downbeats_s: np.ndarray | None = None
    tempo_bpm: float | None = None


System = Callable[[DevRecord], SystemOutput | Sequence[SystemOutput]]


@dataclass(frozen=True)
class SystemEntry:
    """A named system for the tables: ``name`` is its row and its ``--systems`` key."""

    name: str
    description: str
    run: System


def as_times(values: Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    if values is None:
        return None
    return np.sort(np.asarray(values, dtype=np.float64).reshape(-1))


# ---- librosa baselines ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LibrosaAnalysis:
    strength: np.ndarray  # onset strength envelope, one value per HOP_LENGTH frame
    onsets_s: np.ndarray
    beats_s: np.ndarray
    tempo_bpm: float | None


def librosa_analysis(record: DevRecord) -> LibrosaAnalysis:
    """librosa's onset envelope, onsets and ``beat_track`` beats/tempo, computed once per record."""

    def compute() -> LibrosaAnalysis:
        strength = librosa.onset.onset_strength(y=record.audio, sr=SAMPLE_RATE_HZ, hop_length=HOP_LENGTH)
        onsets = librosa.onset.onset_detect(
            onset_envelope=strength, sr=SAMPLE_RATE_HZ, hop_length=HOP_LENGTH, units="time"
        )
        tempo, beat_frames = librosa.beat.beat_track(onset_envelope=strength, sr=SAMPLE_RATE_HZ, hop_length=HOP_LENGTH)
        bpm = float(np.atleast_1d(tempo)[0])
        return LibrosaAnalysis(
            strength=strength,
            onsets_s=np.asarray(onsets, dtype=np.float64),
            beats_s=librosa.frames_to_time(beat_frames, sr=SAMPLE_RATE_HZ, hop_length=HOP_LENGTH),
            tempo_bpm=bpm if bpm > 0 else None,
        )

    return record.cached("librosa", compute)


def strongest(times_s: np.ndarray, strength: np.ndarray, k: int, min_gap_s: float = MIN_GAP_S) -> np.ndarray:
    """The ``k`` times with the highest onset strength, at least ``min_gap_s`` apart, sorted."""
    if times_s.size == 0:
        return np.zeros(0)
    frames = librosa.time_to_frames(times_s, sr=SAMPLE_RATE_HZ, hop_length=HOP_LENGTH)
    scores = strength[np.clip(frames, 0, strength.size - 1)]
    chosen: list[float] = []
    for index in np.argsort(-scores, kind="stable"):
        if all(abs(times_s[index] - c) >= min_gap_s for c in chosen):
            chosen.append(float(times_s[index]))
        if len(chosen) == k:
            break
    return np.sort(np.asarray(chosen))


def librosa_beats_system(k: int = CHOPS) -> System:
    """librosa's tracked beats, the top-k by onset strength."""

    def run(record: DevRecord) -> SystemOutput:
        analysis = librosa_analysis(record)
        return SystemOutput(strongest(analysis.beats_s, analysis.strength, k))

    return run


def librosa_bars_system(k: int = CHOPS) -> System:
    """A bar grid from librosa's beats (every 4th from the first tracked beat), the top-k bars by onset strength."""

    def run(record: DevRecord) -> SystemOutput:
        analysis = librosa_analysis(record)
        return SystemOutput(strongest(analysis.beats_s[::BEATS_PER_BAR], analysis.strength, k))

    return run


def librosa_onsets_system(k: int = CHOPS) -> System:
    """librosa's detected onsets, the top-k by onset strength."""

    def run(record: DevRecord) -> SystemOutput:
        analysis = librosa_analysis(record)
        return SystemOutput(strongest(analysis.onsets_s, analysis.strength, k))

    return run


def librosa_tracker_system() -> System:
    """librosa ``beat_track`` as a beat/downbeat tracker (every 4th beat a downbeat) with its tempo; no chops."""

    def run(record: DevRecord) -> SystemOutput:
        analysis = librosa_analysis(record)
        return SystemOutput(
            chops_s=None,
            beats_s=analysis.beats_s,
            downbeats_s=analysis.beats_s[::BEATS_PER_BAR],
            tempo_bpm=analysis.tempo_bpm,
        )

    return run


def random_system(k: int = CHOPS, seeds: int = RANDOM_SEEDS) -> System:
    """k points uniform over the record, one run per seed (the figures are the mean over the seeds)."""

    def run(record: DevRecord) -> list[SystemOutput]:
        duration_s = record.duration_s
        return [SystemOutput(np.sort(np.random.default_rng(seed).uniform(0.0, duration_s, k))) for seed in range(seeds)]

    return run


# ---- the engine -----------------------------------------------------------------------------------------------


def engine_output(result: ChopResult) -> SystemOutput:
    """A chop result as a system output: the chops, the decoded grid and tempo (None when none was decoded)."""
    tempo = result.tempo_bpm
    return SystemOutput(
        chops_s=as_times([chop.start for chop in result.chops]),
        beats_s=as_times(result.beats_s),
        downbeats_s=as_times(result.downbeats_s),
        tempo_bpm=float(tempo) if tempo is not None else None,
    )


def engine_system(model: Any, params: ChopParams | None = None, bar_decoder: Any = None) -> System:
    """The engine with ``model`` (a ``ChopModel`` or a stand-in — an ablation), ``params`` and a bar decoder
    (default: ours)."""
    from samplechop.service.engine import ChopParams, Chopper

    chopper = Chopper(model, bar_decoder=bar_decoder)
    chop_params = params or ChopParams()

    def run(record: DevRecord) -> SystemOutput:
        return engine_output(chopper.chop(record.path, chop_params).result)

    return run


class ConstantNetwork:
    """Ablation: every head of the network replaced by its own mean over the record.

    What is left is everything around the network (the bar decoder on flat activations, onsets, MAD): what the
    network adds is the difference to the real model's row. The means keep each head on the scale the decoder's
    and the candidates' thresholds expect.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.model_id = f"{model.model_id}+constant"

    def predict(self, model_input: np.ndarray) -> Any:
        from samplechop.service.engine import Activations

        real = self.model.predict(model_input)

        def flat(head: np.ndarray) -> np.ndarray:
            return np.full_like(head, float(head.mean()) if head.size else 0.0)

        return Activations(beat=flat(real.beat), downbeat=flat(real.downbeat), chop=flat(real.chop))


def librosa_bar_decoder(activations: Any, features: Any) -> Any:
    """Ablation: librosa's beat tracker on our onset envelope instead of our bar decoder; 4/4 assumed, the bar
    phase (which of every four beats is the downbeat) chosen by our network's mean downbeat activation."""
    from samplechop.service.engine import BarGrid
    from samplechop.shared_features import FEATURE_SPEC

    envelope = features.onset_envelope
    if envelope.size < 8 or not np.any(envelope > 0):
        return BarGrid.empty()
    tempo, beats = librosa.beat.beat_track(
        onset_envelope=envelope, sr=FEATURE_SPEC.sample_rate, hop_length=FEATURE_SPEC.hop_length
    )
    beats = np.asarray(beats, dtype=np.int64)
    if beats.size < 2:
        return BarGrid.empty()
    phase = int(np.argmax([activations.downbeat[beats[offset::BEATS_PER_BAR]].mean() for offset in range(4)]))
    positions = (np.arange(beats.size) - phase) % BEATS_PER_BAR + 1
    return BarGrid(
        beats_s=beats / features.frame_rate_hz,
        positions=positions.astype(np.int64),
        beats_per_bar=BEATS_PER_BAR,
        tempo_bpm=float(np.atleast_1d(tempo)[0]),
    )


def seed_system(onnx_path: Path, k: int = CHOPS, top_n: int = 16, threshold: float = 0.7) -> System:
    """The seed recipe as the first sampleChop ran it: spec-1 windows → the MLP → its peaks at or above
    ``threshold`` (sub-threshold peaks fill up when too few), 0.25 s apart, top-N, MAD (λ 0.999) on the harmonic
    CQT of the second after each candidate."""
    from samplechop.service.engine.candidates import local_peaks, suppress_near
    from samplechop.service.engine.diversify import select_diverse
    from samplechop.service.engine.harmonic import harmonic_vectors
    from samplechop.service.engine.model import open_session
    from samplechop.shared_features import decode_audio
    from samplechop.trainer.seed.features import SEED_SPEC, record_features

    session = open_session(onnx_path)
    frame_rate = SEED_SPEC.sample_rate / SEED_SPEC.hop_length

    def run(record: DevRecord) -> SystemOutput:
        with decode_audio(record.path, SEED_SPEC.sample_rate) as audio:
            windows, cqt = record_features(audio.mono)
        (output,) = session.run(None, {session.get_inputs()[0].name: windows})
        probability = np.asarray(output, dtype=np.float64).reshape(-1)
        peaks = local_peaks(probability)
        strong = peaks[probability[peaks] >= threshold]
        if strong.size < k:
            strong = peaks[probability[peaks] >= 0.05]
        kept = suppress_near(strong / frame_rate, probability[strong], MIN_GAP_S)[:top_n]
        frames = strong[kept]
        vectors = harmonic_vectors(cqt.T, frames, window_frames=round(frame_rate))
        order = select_diverse(probability[frames], vectors, k, 0.999)
        return SystemOutput(chops_s=np.sort(frames[order] / frame_rate))

    return run


def default_systems(
    model_path: Path | None = None,
    *,
    compare_path: Path | None = None,
    seed_path: Path | None = None,
    k: int = CHOPS,
    top_n: int = 16,
) -> list[SystemEntry]:
    """The engine (default λ, λ = 0) and its ablations (constant network, librosa's beats instead of our decoder,
    the seed recipe when its model exists), an optional second model, and the librosa baselines."""
    from samplechop.service.engine import DEFAULT_MODEL_PATH, ChopModel, ChopParams

    model = ChopModel(model_path or DEFAULT_MODEL_PATH)
    params = ChopParams(chops=k, top_n=max(top_n, k))
    top_k = ChopParams(chops=k, top_n=max(top_n, k), diversity=0.0)
    entries = [
        SystemEntry("samplechop", f"sampleChop, model {model.model_id}, defaults", engine_system(model, params)),
        SystemEntry("samplechop-lambda0", "sampleChop with λ = 0: its own top-K by score", engine_system(model, top_k)),
        SystemEntry(
            "samplechop-constant",
            "sampleChop with the network's output replaced by its mean over the record",
            engine_system(ConstantNetwork(model), params),
        ),
        SystemEntry(
            "samplechop-librosa-beats",
            "sampleChop with librosa's beat tracker (bar phase from our downbeat head) instead of our bar decoder",
            engine_system(model, params, bar_decoder=librosa_bar_decoder),
        ),
    ]
    seed = seed_path or SEED_MODEL
    if seed.exists():
        entries.append(
            SystemEntry(
                "seed-recipe",
                "the seed recipe: spec-1 summed CQT ±30 frames + MLP, peaks, MAD",
                seed_system(seed, k, top_n),
            )
        )
    if compare_path is not None:
        other = ChopModel(compare_path)
        entries.append(
            SystemEntry("compare", f"sampleChop, model {other.model_id}, defaults", engine_system(other, params))
        )
    entries += [
        SystemEntry("librosa-beats", f"librosa beat_track beats, top-{k} by onset strength", librosa_beats_system(k)),
        SystemEntry("librosa-bars", f"every 4th librosa beat, top-{k} by onset strength", librosa_bars_system(k)),
        SystemEntry("librosa-onsets", f"librosa onsets, top-{k} by onset strength", librosa_onsets_system(k)),
        SystemEntry("random", f"{k} uniform random points, mean of {RANDOM_SEEDS} seeds", random_system(k)),
        SystemEntry("librosa-tracker", "librosa beat_track: beats, every 4th a downbeat", librosa_tracker_system()),
    ]
    return entries
