"""The harmonic-only spectrogram (HPSS) at chosen frames, used to tell chops' material apart."""

from __future__ import annotations

import librosa
import numpy as np


def harmonic_frames(
    cqt: np.ndarray,
    frames: np.ndarray,
    *,
    kernel_frames: int = 31,
    window_frames: int = 1,
    normalise: bool = False,
) -> np.ndarray:
    """Harmonic part of a (bins, frames) CQT magnitude, averaged over ``window_frames`` from each of ``frames``.

    HPSS is computed only around the requested frames (the median filter needs ``kernel_frames // 2`` frames of
    context on each side), not over the whole record. Returns shape (len(frames), bins), float32, log-compressed
    so loud and quiet material compare by timbre and pitch rather than by level; ``normalise`` scales each row
    to unit length, leaving only the shape of the spectrum (which notes, which timbre).
    """
    frames = np.asarray(frames, dtype=np.int64)
    n_bins, n_frames = cqt.shape
    if frames.size == 0:
        return np.zeros((0, n_bins), dtype=np.float32)
    margin = kernel_frames // 2
    width = 2 * margin + window_frames
    padded = np.pad(cqt, ((0, 0), (margin, margin + window_frames)), mode="edge")
    starts = np.clip(frames, 0, max(n_frames - 1, 0))
    # All windows at once, (windows, bins, width): one median filter call per direction instead of one HPSS each.
    local = padded[:, starts[:, None] + np.arange(width)[None, :]].transpose(1, 0, 2)
    harmonic = local * _harmonic_mask(local, kernel_frames)
    result = np.log1p(100 * harmonic[:, :, margin : margin + window_frames].mean(axis=2)).astype(np.float32)
    if normalise:
        result /= np.maximum(np.linalg.norm(result, axis=1, keepdims=True), 1e-12)
    return result


def _harmonic_mask(local: np.ndarray, kernel_frames: int) -> np.ndarray:
    """librosa's HPSS soft mask (power 2, margin 1) for a stack of (bins, time) magnitudes.

    Median filtering along time enhances sustained (harmonic) energy, along frequency transient (percussive)
    energy; each window is filtered on its own (the stack axis has filter size 1).
    """
    from scipy.ndimage import median_filter

    harmonic = median_filter(local, size=(1, 1, kernel_frames), mode="reflect")
    percussive = median_filter(local, size=(1, kernel_frames, 1), mode="reflect")
    return librosa.util.softmask(harmonic, percussive, power=2.0, split_zeros=False)
