"""Musical key from a pitch-class profile: the Krumhansl–Schmuckler method with Temperley's key profiles.

The record's (or a chop's) pitch-class profile is the mean of its chroma frames (``shared_features`` chroma, 12
power classes from C, A1–G#5), after two steps that make a frame read like the notes sounding in it:

1. the feature spec shares each FFT bin among neighbouring classes by a Gaussian
   (``chroma_class_width_semitones`` = 0.5: a tone exactly on C also puts 13.5 % of its power on B and on C#);
   that known, circulant spread is undone (inverse 12 × 12 matrix, negative results clipped to 0);
2. the square root turns power into amplitude, so a loud bass note does not outweigh the rest of the chord 2 : 1
   (the profiles were fitted to note counts and durations, not to energies).

Each frame is weighted by how tonal it is, so drums and silence hardly count: its strongest class (frames are
scaled to a maximum of 1, quiet ones less) times one minus its spectral flatness (geometric over arithmetic mean of
the 12 classes: near 1 for noise, near 0 for a chord).

The profile is correlated (Pearson) with the 24 rotations of a major and a minor key profile; the best is the key
(Krumhansl 1990, "Cognitive Foundations of Musical Pitch", ch. 4, the Krumhansl–Schmuckler algorithm). The default
profiles are Temperley's, from the Kostka–Payne corpus (Temperley 2007, "Music and Probability"); the
Krumhansl–Kessler probe-tone ratings (1982) are ``profile="krumhansl-kessler"``. On synthetic progressions (the
chord synth of tests/test_key.py; I–IV–V–I, I–vi–IV–V, I–V–vi–IV, i–iv–V–i, i–VI–III–VII, i–VII–VI–V, each in all
12 tonics, with and without drums: 144 records) Temperley's named 120 right and Krumhansl–Kessler's 98: with the
bass on the roots of i–iv–V, KK's major profile (its high 4th degree) took 22 minor keys for their parallel major.
All 24 misses of Temperley's are i–VI–III–VII (Am F C G) named as the relative major (C): the same seven notes,
which no pitch-class profile can tell apart. The two steps above took Temperley's from 64 (raw power chroma) to 120.

``confidence`` is the margin between the best and the second-best key's correlation, in [0, 2]: 0 when two keys
fit equally (often the relative major and minor, which share their notes), above ~0.1 when one key clearly wins.
``correlation`` is the best key's own correlation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from samplechop.shared_features import FEATURE_SPEC
from samplechop.shared_features.spectral import PITCH_CLASSES

Mode = Literal["major", "minor"]

# Krumhansl & Kessler (1982), probe-tone ratings, tonic first.
KRUMHANSL_KESSLER: dict[str, tuple[float, ...]] = {
    "major": (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
    "minor": (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
}
# Temperley (2007), pitch-class distributions of the Kostka–Payne corpus, tonic first.
TEMPERLEY: dict[str, tuple[float, ...]] = {
    "major": (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
    "minor": (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
}
PROFILES = {"temperley": TEMPERLEY, "krumhansl-kessler": KRUMHANSL_KESSLER}
DEFAULT_PROFILE = "temperley"
# Less tonal weight than this in all (half a second of clearly tonal frames at 50 frames/s): no key is named.
MIN_TONAL_WEIGHT = 25.0 * 0.5
# A profile whose classes vary less than this (relative standard deviation) is flat: no key either.
MIN_PROFILE_SPREAD = 0.02
_EPS = 1e-6


@dataclass(frozen=True)
class Key:
    """A key: tonic (``C``, ``C#``, … ``B``, sharps), mode, and how sure the estimate is (see the module doc)."""

    tonic: str
    mode: Mode
    confidence: float
    correlation: float

    @property
    def name(self) -> str:
        return f"{self.tonic} {self.mode}"

    @property
    def tonic_pitch_class(self) -> int:
        return PITCH_CLASSES.index(self.tonic)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tonic": self.tonic,
            "mode": self.mode,
            "confidence": round(self.confidence, 4),
            "correlation": round(self.correlation, 4),
        }


@lru_cache(maxsize=4)
def _unspread_matrix(class_width_semitones: float) -> np.ndarray:
    """Inverse of the circulant matrix by which the feature spec spreads a class's power to its neighbours."""
    distance = (np.arange(12) + 6) % 12 - 6
    spread = np.exp(-0.5 * (distance / class_width_semitones) ** 2)
    spread /= spread.sum()
    circulant = np.stack([np.roll(spread, shift) for shift in range(12)])
    return np.linalg.inv(circulant)


def note_amplitudes(chroma: np.ndarray, *, class_width_semitones: float | None = None) -> np.ndarray:
    """Chroma power frames → per-class amplitudes: the spec's class spreading undone, then the square root."""
    frames = _validated_chroma(chroma)
    width = FEATURE_SPEC.chroma_class_width_semitones if class_width_semitones is None else class_width_semitones
    amplitude: np.ndarray = np.sqrt(np.clip(frames @ _unspread_matrix(float(width)).T, 0.0, None))
    return amplitude


def tonal_weights(frames: np.ndarray) -> np.ndarray:
    """Per-frame weight (frames,): strongest class (at most 1) × (1 − spectral flatness of the 12 classes)."""
    values = np.asarray(frames, dtype=np.float64) + _EPS
    flatness = np.exp(np.mean(np.log(values), axis=1)) / np.mean(values, axis=1)
    weights: np.ndarray = np.clip(np.minimum(values.max(axis=1), 1.0) * (1.0 - flatness), 0.0, 1.0)
    return weights


def pitch_class_profile(chroma: np.ndarray, *, frame_weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(profile (12,), total weight): the weighted mean of the chroma frames as :func:`note_amplitudes`, weights
    :func:`tonal_weights` × ``frame_weights`` when given."""
    frames = note_amplitudes(chroma)
    weights = tonal_weights(frames)
    if frame_weights is not None:
        extra = np.asarray(frame_weights, dtype=np.float64).reshape(-1)
        if extra.size != frames.shape[0] or not np.all(np.isfinite(extra)) or np.any(extra < 0):
            raise ValueError("frame_weights must hold one finite, non-negative weight per chroma frame")
        weights = weights * extra
    total = float(weights.sum())
    if total <= 0.0:
        return np.zeros(12), 0.0
    return (weights @ frames) / total, total


def key_scores(profile: np.ndarray, *, profile_name: str = DEFAULT_PROFILE) -> np.ndarray:
    """Pearson correlation of ``profile`` with every key: (2, 12), row 0 major, row 1 minor, column = tonic."""
    templates = _templates(profile_name)
    centred = np.asarray(profile, dtype=np.float64) - np.mean(profile)
    norm = float(np.linalg.norm(centred))
    if norm == 0.0:
        return np.zeros((2, 12))
    scores = np.empty((2, 12))
    for row, template in enumerate(templates):
        for tonic in range(12):
            rotated = np.roll(template, tonic)  # the template's tonic moved to pitch class `tonic`
            scores[row, tonic] = float(centred @ rotated) / (norm * float(np.linalg.norm(rotated)))
    return scores


def estimate_key(
    chroma: np.ndarray, *, profile: str = DEFAULT_PROFILE, frame_weights: np.ndarray | None = None
) -> Key | None:
    """The key of chroma frames (frames, 12), or None when they hold too little tonal material to name one."""
    pcp, weight = pitch_class_profile(chroma, frame_weights=frame_weights)
    if weight < MIN_TONAL_WEIGHT or float(np.std(pcp)) < MIN_PROFILE_SPREAD * max(float(np.mean(pcp)), _EPS):
        return None
    scores = key_scores(pcp, profile_name=profile)
    order = np.argsort(scores, axis=None)[::-1]
    best, second = np.unravel_index(order[0], scores.shape), np.unravel_index(order[1], scores.shape)
    mode: Mode = "major" if best[0] == 0 else "minor"
    return Key(
        tonic=PITCH_CLASSES[int(best[1])],
        mode=mode,
        confidence=float(scores[best] - scores[second]),
        correlation=float(scores[best]),
    )


def chop_keys(
    chroma: np.ndarray,
    spans_s: Sequence[tuple[float, float]],
    *,
    frame_rate_hz: float,
    profile: str = DEFAULT_PROFILE,
) -> list[Key | None]:
    """The key of each chop, from the chroma frames inside its span ``(start_s, end_s)``: frame i is at
    i / frame_rate_hz s. A chop too short or too percussive to hold a key gets None."""
    frames = _validated_chroma(chroma)
    keys: list[Key | None] = []
    for start_s, end_s in spans_s:
        first = max(0, int(np.ceil(start_s * frame_rate_hz)))
        stop = min(frames.shape[0], int(np.floor(end_s * frame_rate_hz)) + 1)
        keys.append(estimate_key(frames[first:stop], profile=profile) if stop > first else None)
    return keys


def _validated_chroma(chroma: np.ndarray) -> np.ndarray:
    frames = np.asarray(chroma, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != 12:
        raise ValueError(f"chroma must be (frames, 12), got shape {frames.shape}")
    if not np.all(np.isfinite(frames)) or (frames.size and frames.min() < 0):
        raise ValueError("chroma must hold finite, non-negative values")
    return frames


def _templates(profile_name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        profile = PROFILES[profile_name]
    except KeyError:
        raise ValueError(f"key profile must be one of {', '.join(PROFILES)}, got {profile_name!r}") from None
    return np.asarray(profile["major"]), np.asarray(profile["minor"])


__all__ = [
    "KRUMHANSL_KESSLER",
    "PROFILES",
    "TEMPERLEY",
    "Key",
    "chop_keys",
    "estimate_key",
    "key_scores",
    "note_amplitudes",
    "pitch_class_profile",
    "tonal_weights",
]
