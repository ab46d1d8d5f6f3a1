"""Cutting the original audio into pad-ready slices and writing them as WAV files.

The original is read through a :class:`SegmentSource` (``DecodedAudio`` is one), a segment at a time, so a slice
never needs the whole record in memory; a plain (samples, channels) array works too.
"""

from __future__ import annotations

import io
import itertools
from typing import Protocol

import numpy as np
import soundfile as sf

ZERO_CROSSING_SEARCH_S = 0.003
FADE_S = 0.002
# Frames per block when a slice is encoded: ~0.75 s at 44.1 kHz, 512 KiB of float32 stereo.
WRITE_BLOCK_FRAMES = 1 << 16


class SegmentSource(Protocol):
    """Anything that returns frames [start, stop) of the original as float32 (n, channels)."""

    def read(self, start_sample: int, stop_sample: int) -> np.ndarray: ...


class ArraySource:
    """A :class:`SegmentSource` over samples already in memory, shape (samples, channels)."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples if samples.ndim == 2 else samples[:, None]

    def read(self, start_sample: int, stop_sample: int) -> np.ndarray:
        return np.asarray(self.samples[max(0, start_sample) : max(0, stop_sample)], dtype=np.float32)


def _as_source(samples: SegmentSource | np.ndarray) -> SegmentSource:
    return ArraySource(samples) if isinstance(samples, np.ndarray) else samples


def nearest_zero_crossing(samples: SegmentSource | np.ndarray, position: int, radius: int, total: int) -> int:
    """The sample index nearest ``position`` (within ``radius``) where the mono mix changes sign, else ``position``.

    ``samples`` holds ``total`` frames. Cutting there keeps a pad from starting with a step.
    """
    low, high = max(position - radius, 1), min(position + radius, total - 1)
    if high <= low:
        return int(np.clip(position, 0, total))
    window = _as_source(samples).read(low - 1, high + 1)
    mono = window.mean(axis=1)
    crossings = np.flatnonzero((mono[:-1] <= 0.0) != (mono[1:] <= 0.0)) + low
    if crossings.size == 0:
        return position
    return int(crossings[np.argmin(np.abs(crossings - position))])


def cut_points(
    starts_s: np.ndarray,
    duration_samples: int,
    sample_rate: int,
    samples: SegmentSource | np.ndarray,
    max_length_s: float | None,
) -> list[tuple[int, int]]:
    """(start, end) sample indices of each slice, in time order.

    Each slice runs from its chop to the next (the last to the record's end, or ``max_length_s`` when set), both
    ends moved to the nearest zero crossing; consecutive slices share their boundary, so they tile the record.
    ``samples`` is read only around each boundary, in time order (cheap for sources that read forward).
    """
    source = _as_source(samples)
    radius = round(ZERO_CROSSING_SEARCH_S * sample_rate)
    starts = [
        nearest_zero_crossing(source, round(t * sample_rate), radius, duration_samples) for t in np.sort(starts_s)
    ]
    bounds = [*starts, duration_samples]
    pairs = []
    for start, following in itertools.pairwise(bounds):
        end = following
        if max_length_s is not None:
            limit = start + round(max_length_s * sample_rate)
            end = min(end, nearest_zero_crossing(source, limit, radius, duration_samples))
        pairs.append((start, max(end, start)))
    return pairs


def fade_gain(first: int, count: int, length: int, fade_frames: int) -> np.ndarray | None:
    """The fade gain of frames [first, first + count) of a slice ``length`` frames long, or None where it is 1.

    A linear ramp over the first and the last ``fade_frames`` frames (at most half the slice each), so no pad
    clicks even off a zero crossing.
    """
    fade = min(fade_frames, length // 2)
    if fade <= 0 or (first >= fade and first + count <= length - fade):
        return None
    index = np.arange(first, first + count, dtype=np.float64)  # float32 counts exactly only to 2**24 (6 min)
    fade_in = np.minimum(index / fade, 1.0)
    fade_out = np.minimum((length - 1 - index) / fade, 1.0)
    return (fade_in * fade_out).astype(np.float32)[:, None]


def slice_wav_bytes(
    samples: SegmentSource | np.ndarray, start: int, stop: int, sample_rate: int, channels: int, bit_depth: int
) -> bytes:
    """Frames [start, stop) of the original as a faded PCM WAV, read and encoded a block at a time.

    Peak memory is the WAV itself plus one block, however long the slice.
    """
    source = _as_source(samples)
    length = max(0, stop - start)
    fade_frames = round(FADE_S * sample_rate)
    buffer = io.BytesIO()
    with sf.SoundFile(
        buffer, "w", samplerate=sample_rate, channels=channels, format="WAV", subtype=f"PCM_{bit_depth}"
    ) as out:
        for first in range(0, length, WRITE_BLOCK_FRAMES):
            block = source.read(start + first, start + min(length, first + WRITE_BLOCK_FRAMES))
            block = np.clip(block, -1.0, 1.0)
            gain = fade_gain(first, block.shape[0], length, fade_frames)
            if gain is not None:
                block *= gain
            out.write(block)
    return buffer.getvalue()
