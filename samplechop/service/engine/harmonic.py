"""What a chop sounds like, as a vector: the harmonic (sustained) part of the spectrum after its start.

Diversification compares chops by these vectors. HPSS (harmonic/percussive separation by median filtering,
Fitzgerald 2010, as in librosa) keeps sustained notes and drops drum hits, so two chops differ by their chords
and timbre rather than by which drum starts them.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

# ≈0.34 s of median filtering at 50 frames/s: the span librosa's default 31 frames covers at 11.6 ms frames.
KERNEL_FRAMES = 17


def softmask(reference: np.ndarray, other: np.ndarray, *, power: float = 2.0) -> np.ndarray:
    """Wiener-style soft mask ``reference**p / (reference**p + other**p)``; 0.5-free zeros where both are 0.

    Matches ``librosa.util.softmask(reference, other, power=power, split_zeros=False)`` (checked in the tests).
    """
    scale = np.maximum(reference, other)
    scale = np.where(scale > np.finfo(np.float32).tiny, scale, 1.0)
    ref = (reference / scale) ** power
    oth = (other / scale) ** power
    total = ref + oth
    return np.where(total > np.finfo(np.float32).tiny, ref / np.where(total > 0, total, 1.0), 0.0)


def harmonic_vectors(
    spectrum: np.ndarray, frames: np.ndarray, *, window_frames: int, kernel_frames: int = KERNEL_FRAMES
) -> np.ndarray:
    """Unit-length harmonic spectrum of the ``window_frames`` from each of ``frames``: (len(frames), bands).

    ``spectrum`` is (frames, bands), non-negative (the log filterbank). HPSS runs only around the requested
    frames (each window with half a kernel of context either side), all windows in one median-filter call.
    """
    frames = np.asarray(frames, dtype=np.int64)
    n_frames, n_bands = spectrum.shape
    if frames.size == 0 or n_frames == 0:
        return np.zeros((frames.size, n_bands), dtype=np.float32)
    margin = kernel_frames // 2
    width = 2 * margin + window_frames
    padded = np.pad(np.maximum(spectrum, 0.0), ((margin, margin + window_frames), (0, 0)), mode="edge")
    starts = np.clip(frames, 0, n_frames - 1)
    local = padded[starts[:, None] + np.arange(width)[None, :]]  # (windows, time, bands)
    harmonic = median_filter(local, size=(1, kernel_frames, 1), mode="reflect")
    percussive = median_filter(local, size=(1, 1, kernel_frames), mode="reflect")
    kept = local * softmask(harmonic, percussive)
    vectors = kept[:, margin : margin + window_frames].mean(axis=1).astype(np.float32)
    unit: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit
