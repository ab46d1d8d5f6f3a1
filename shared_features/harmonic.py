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
    margin = kernel_frames // 2
    padded = np.pad(cqt, ((0, 0), (margin, margin + window_frames)), mode="edge")
    result = np.zeros((len(frames), n_bins), dtype=np.float32)
    for row, frame in enumerate(np.clip(frames, 0, max(n_frames - 1, 0))):
        local = padded[:, frame : frame + 2 * margin + window_frames]
        harmonic, _ = librosa.decompose.hpss(local, kernel_size=kernel_frames)
        result[row] = np.log1p(100 * harmonic[:, margin : margin + window_frames].mean(axis=1))
    if normalise:
        result /= np.maximum(np.linalg.norm(result, axis=1, keepdims=True), 1e-12)
    return result
