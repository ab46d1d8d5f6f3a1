"""Per-frame features from a CQT magnitude: the bin sum, context windows, an onset envelope, unit conversions."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def frames_to_seconds(frames: np.ndarray | int, hop_length: int, sample_rate: int) -> np.ndarray:
    """Frame indices to seconds (frame ``i`` is centred at ``i * hop_length`` samples)."""
    return np.asarray(frames, dtype=np.float64) * hop_length / sample_rate


def seconds_to_frames(times_s: np.ndarray | float, hop_length: int, sample_rate: int) -> np.ndarray:
    """Seconds to the nearest frame index."""
    return np.rint(np.asarray(times_s, dtype=np.float64) * sample_rate / hop_length).astype(np.int64)


def summed_cqt(cqt: np.ndarray, *, log_compress: bool = False) -> np.ndarray:
    """Sum a (bins, frames) magnitude over its bins: one value per frame, float32."""
    per_frame = cqt.sum(axis=0, dtype=np.float64)
    if log_compress:
        per_frame = np.log1p(per_frame)
    return per_frame.astype(np.float32)


def context_windows(per_frame: np.ndarray, context_frames: int) -> np.ndarray:
    """Each frame with ``context_frames`` before and after it, z-scored per window.

    Returns shape (frames, 2 * context_frames + 1), float32. The edges are padded by repeating the first and last
    value, so every frame of the record gets a window. A flat window (silence) z-scores to zeros.
    """
    padded = np.pad(per_frame.astype(np.float32), context_frames, mode="edge")
    return _zscore(sliding_window_view(padded, 2 * context_frames + 1).astype(np.float32))


def block_context_windows(per_frame: np.ndarray, blocks: int, block_frames: int) -> np.ndarray:
    """Each frame with ``blocks`` block-averages before and after it, ``block_frames`` apart, z-scored per window.

    Returns shape (frames, 2 * blocks + 1), float32; value ``k`` of frame ``f`` is the mean of the
    ``block_frames`` frames centred on ``f + (k - blocks) * block_frames``. Edges repeat the first/last value.
    """
    from scipy.ndimage import uniform_filter1d

    smoothed = uniform_filter1d(per_frame.astype(np.float32), size=block_frames, mode="nearest")
    reach = blocks * block_frames
    padded = np.pad(smoothed, reach, mode="edge")
    offsets = np.arange(-blocks, blocks + 1) * block_frames + reach
    windows = padded[np.arange(per_frame.size)[:, None] + offsets[None, :]]
    return _zscore(windows)


def _zscore(windows: np.ndarray) -> np.ndarray:
    mean = windows.mean(axis=1, keepdims=True)
    std = windows.std(axis=1, keepdims=True)
    scale = np.where(std > 1e-6 * (np.abs(mean) + 1e-12), std, np.inf).astype(np.float32)
    return np.ascontiguousarray((windows - mean) / scale, dtype=np.float32)


def mel_onset_strength(mono: np.ndarray, sample_rate: int, hop_length: int) -> np.ndarray:
    """librosa's mel spectral-flux onset strength, one value per ``hop_length`` samples: (frames,), float32.

    Tracks beats more reliably than a CQT flux (it sees the kick below F2 and the cymbals above the CQT's top).
    The engine takes it at twice the feature hop (librosa's usual ~11.6 ms frames) and interpolates it onto the
    feature frames (:func:`upsample_envelope`): half the cost, and the beat tracker does better that way.
    """
    import librosa

    return librosa.onset.onset_strength(y=mono, sr=sample_rate, hop_length=hop_length).astype(np.float32)


def upsample_envelope(envelope: np.ndarray, factor: int, frames: int) -> np.ndarray:
    """Linear interpolation of an envelope at ``factor`` times the hop onto ``frames`` frames of the finer hop."""
    fine = np.interp(np.arange(frames) / factor, np.arange(envelope.size), envelope)
    return fine.astype(np.float32)
