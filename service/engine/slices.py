"""Cutting the original audio into pad-ready slices and writing them as WAV files."""

from __future__ import annotations

import io
import itertools

import numpy as np
import soundfile as sf

ZERO_CROSSING_SEARCH_S = 0.003
FADE_S = 0.002


def nearest_zero_crossing(samples: np.ndarray, position: int, radius: int) -> int:
    """The sample index nearest ``position`` (within ``radius``) where the mono mix changes sign, else ``position``.

    ``samples`` has shape (samples, channels). Cutting there keeps a pad from starting with a step.
    """
    total = samples.shape[0]
    low, high = max(position - radius, 1), min(position + radius, total - 1)
    if high <= low:
        return int(np.clip(position, 0, total))
    mono = samples[low - 1 : high + 1].mean(axis=1)
    crossings = np.flatnonzero((mono[:-1] <= 0.0) != (mono[1:] <= 0.0)) + low
    if crossings.size == 0:
        return position
    return int(crossings[np.argmin(np.abs(crossings - position))])


def cut_points(
    starts_s: np.ndarray, duration_samples: int, sample_rate: int, samples: np.ndarray, max_length_s: float | None
) -> list[tuple[int, int]]:
    """(start, end) sample indices of each slice, in time order.

    Each slice runs from its chop to the next (the last to the record's end, or ``max_length_s`` when set), both
    ends moved to the nearest zero crossing; consecutive slices share their boundary, so they tile the record.
    """
    radius = round(ZERO_CROSSING_SEARCH_S * sample_rate)
    starts = [nearest_zero_crossing(samples, round(t * sample_rate), radius) for t in np.sort(starts_s)]
    bounds = [*starts, duration_samples]
    pairs = []
    for start, following in itertools.pairwise(bounds):
        end = following
        if max_length_s is not None:
            end = min(end, nearest_zero_crossing(samples, start + round(max_length_s * sample_rate), radius))
        pairs.append((start, max(end, start)))
    return pairs


def faded(segment: np.ndarray, sample_rate: int) -> np.ndarray:
    """A copy with a short linear fade in and out, so no pad clicks even off a zero crossing."""
    out = segment.astype(np.float32, copy=True)
    length = min(round(FADE_S * sample_rate), out.shape[0] // 2)
    if length > 0:
        ramp = np.linspace(0.0, 1.0, length, endpoint=False, dtype=np.float32)[:, None]
        out[:length] *= ramp
        out[-length:] *= ramp[::-1]
    return out


def wav_bytes(segment: np.ndarray, sample_rate: int, bit_depth: int) -> bytes:
    """Encode (samples, channels) float audio as a PCM WAV of the given bit depth."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(segment, -1.0, 1.0), sample_rate, format="WAV", subtype=f"PCM_{bit_depth}")
    return buffer.getvalue()
