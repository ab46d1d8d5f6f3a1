"""Per-record figures and the bootstrap interval over records.

Definitions follow ``shared/README.md`` so the figures compare with the ones published there:
F-measure is ``mir_eval.beat.f_measure`` with a 70 ms window and no trimming; P@ is the share of the chop points
within the tolerance of an annotated event, where a point at 0 s (the first slice's start) does not count.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import librosa
import mir_eval
import numpy as np

BEAT_TOLERANCE_S = 0.070  # shared/README.md: mir_eval's standard beat window, used for F and P@beat/P@downbeat
ONSET_TOLERANCE_S = 0.050  # the drum-onset tolerance of the original bench (MDB Drums onset evaluation)
ZERO_START_S = 0.001  # a point this close to 0 s is the first slice's start, not a chosen chop point
TEMPO_TOLERANCE = 0.04  # the MIREX tempo-accuracy window (Gouyon et al. 2006): within 4 % of the reference
ACC1_FACTORS = (1.0,)
# acc2: octave errors (×2, ÷2) and, for three-beat meters, ×3 and ÷3 are forgiven (Gouyon et al. 2006).
ACC2_FACTORS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
DIVERSITY_WINDOW_S = 1.0  # chroma of the 1 s after each chop point (the original bench's definition)


def counted_points(points_s: np.ndarray) -> np.ndarray:
    """Chop points that count for P@: all but a first slice's start at 0 s."""
    points_s = np.asarray(points_s, dtype=np.float64).reshape(-1)
    return points_s[points_s >= ZERO_START_S]


def precision_at(points_s: np.ndarray, events_s: np.ndarray, tolerance_s: float) -> float | None:
    """Share of the chop points within ``tolerance_s`` of an event; None when no point counts."""
    points = counted_points(points_s)
    if points.size == 0:
        return None
    events = np.sort(np.asarray(events_s, dtype=np.float64).reshape(-1))
    if events.size == 0:
        return 0.0
    # Nearest event of each point: the one at or after it, or the one before it.
    after = np.clip(np.searchsorted(events, points), 0, events.size - 1)
    before = np.clip(after - 1, 0, events.size - 1)
    nearest_s = np.minimum(np.abs(events[after] - points), np.abs(events[before] - points))
    return float(np.mean(nearest_s <= tolerance_s + 1e-9))


def beat_f_measure(reference_s: np.ndarray, estimated_s: np.ndarray) -> float:
    """``mir_eval.beat.f_measure`` at 70 ms, untrimmed; 0 when either side is empty."""
    reference = np.sort(np.asarray(reference_s, dtype=np.float64).reshape(-1))
    estimated = np.sort(np.asarray(estimated_s, dtype=np.float64).reshape(-1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns on empty inputs; the score (0) says it
        return float(mir_eval.beat.f_measure(reference, estimated, f_measure_threshold=BEAT_TOLERANCE_S))


def tempo_correct(estimate_bpm: float, reference_bpm: float, factors: tuple[float, ...] = ACC1_FACTORS) -> bool:
    """Whether ``estimate_bpm`` is within 4 % of ``reference_bpm`` times one of ``factors``."""
    if not (np.isfinite(estimate_bpm) and estimate_bpm > 0 and reference_bpm > 0):
        return False
    return any(abs(estimate_bpm - reference_bpm * f) <= TEMPO_TOLERANCE * reference_bpm * f for f in factors)


def record_chroma(audio: np.ndarray, sample_rate_hz: int, hop_length: int) -> np.ndarray:
    """Chroma (12, frames) of the whole record, computed once; segments average its frames."""
    if audio.size < 2048:
        audio = np.pad(audio, (0, 2048 - audio.size))
    with warnings.catch_warnings():
        # Tuning is estimated from the record's peaks; a record without clear peaks gets 0 (librosa warns).
        warnings.filterwarnings("ignore", message="Trying to estimate tuning", category=UserWarning)
        return librosa.feature.chroma_stft(y=audio, sr=sample_rate_hz, hop_length=hop_length, n_fft=2048)


def segment_chroma(chroma: np.ndarray, points_s: np.ndarray, frame_rate_hz: float) -> np.ndarray:
    """Unit-norm mean chroma of the :data:`DIVERSITY_WINDOW_S` after each point: (points, 12).

    Frames are centred (librosa's default), so frame ``i`` sits at ``i / frame_rate_hz`` seconds. A point past the
    end keeps the last frame, so every point has a vector.
    """
    frames = chroma.shape[1]
    vectors = np.zeros((len(points_s), 12))
    for row, point in enumerate(np.asarray(points_s, dtype=np.float64).reshape(-1)):
        first = min(max(0, round(point * frame_rate_hz)), frames - 1)
        last = max(first + 1, min(frames, round((point + DIVERSITY_WINDOW_S) * frame_rate_hz)))
        mean = chroma[:, first:last].mean(axis=1)
        vectors[row] = mean / (np.linalg.norm(mean) + 1e-9)
    return vectors


def chroma_diversity(vectors: np.ndarray) -> float | None:
    """Mean pairwise Euclidean distance between the chops' chroma vectors; None for fewer than two chops."""
    if vectors.shape[0] < 2:
        return None
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    return float(distances[np.triu_indices(vectors.shape[0], 1)].mean())


@dataclass(frozen=True)
class Interval:
    """A mean over records with its bootstrap interval; ``n`` records contributed."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": round(self.mean, 6), "low": round(self.low, 6), "high": round(self.high, 6), "n": self.n}


BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def bootstrap_mean(
    values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED, confidence: float = CONFIDENCE
) -> Interval | None:
    """The mean of per-record values and its percentile bootstrap interval (records resampled with replacement).

    None when there are no values. One value gives a zero-width interval: there is nothing to resample.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(float(values.mean()), float(low), float(high), int(values.size))
