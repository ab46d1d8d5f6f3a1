"""Beat and bar structure: where the beats are, and which beat of the bar the model hears as the downbeat."""

from __future__ import annotations

import librosa
import numpy as np

BEATS_PER_BAR = 4
# librosa's tempo estimate over a 5.8-ms envelope of a 3-minute record peaks at ~2 GB; over one max-pooled to
# ~23 ms frames (hop 1024 at 44.1 kHz) it needs ~60 MB.
TEMPO_FRAME_S = 0.023


def track_beats(onset_strength: np.ndarray, sample_rate: int, hop_length: int) -> np.ndarray:
    """Beat frames from an onset envelope (librosa's dynamic-programming tracker); empty if none are found."""
    if onset_strength.size < 8 or not np.any(onset_strength > 0):
        return np.zeros(0, dtype=np.int64)
    pooling = max(1, round(TEMPO_FRAME_S * sample_rate / hop_length))
    usable = onset_strength.size // pooling * pooling
    pooled = onset_strength[:usable].reshape(-1, pooling).max(axis=1)
    bpm = float(librosa.feature.tempo(onset_envelope=pooled, sr=sample_rate, hop_length=hop_length * pooling)[0])
    _, beats = librosa.beat.beat_track(onset_envelope=onset_strength, sr=sample_rate, hop_length=hop_length, bpm=bpm)
    return np.asarray(beats, dtype=np.int64)


def bar_phase_weights(beat_probabilities: np.ndarray, beats_per_bar: int = BEATS_PER_BAR) -> np.ndarray:
    """Per beat, how strongly its position in the bar is heard as a chop point, in [0, 1].

    Beats are numbered from the first tracked one; the mean model probability of each of the ``beats_per_bar``
    positions says which position is the downbeat. A beat's weight is its position's mean over the best
    position's mean, so beats in the bar position the model favours keep their probability and the others are
    scaled down by how much less that position is favoured. Fewer than two bars of beats: all weights are 1.
    """
    count = beat_probabilities.size
    if count < 2 * beats_per_bar:
        return np.ones(count)
    positions = np.arange(count) % beats_per_bar
    means = np.asarray([beat_probabilities[positions == p].mean() for p in range(beats_per_bar)])
    best = float(means.max())
    if best <= 0.0:
        return np.ones(count)
    return means[positions] / best
