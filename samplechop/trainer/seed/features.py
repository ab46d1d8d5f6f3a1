"""The seed recipe's features (feature spec 1), kept so the original model can be rebuilt as a comparison row.

Spec 1 is the first sampleChop's recipe: a 48-bin constant-Q transform from F2 at 44.1 kHz, hop 256 (5.8 ms), summed
over its bins, each frame with 30 frames of context either side, z-scored per window (61 values). The shipped model
reads feature spec 2 (``shared_features``); only the trainer and the quality bench use this module (it needs
librosa, which the service does not install).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import librosa
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


@dataclass(frozen=True)
class SeedFeatureSpec:
    """What the model's input is made of.

    - ``sample_rate``: analysis rate in Hz; every record is decoded to mono at this rate.
    - ``hop_length``: samples between analysis frames (one frame = hop_length / sample_rate seconds).
    - ``fmin_hz``, ``n_bins``, ``bins_per_octave``: the constant-Q transform's lowest bin and size.
    - ``context_frames``: frames of context on each side; a model input has ``2 * context_frames + 1`` values.
    - ``log_compress``: whether the per-frame CQT sum is log-compressed before windowing.
    - ``long_context_blocks``, ``long_block_frames``: a second, coarser window of the same per-frame sums,
      averaged over blocks of ``long_block_frames`` frames, ``long_context_blocks`` blocks each side (0: none).
      It lets the model hear where in the bar a frame sits, which ±30 frames (±0.17 s) cannot.
    """

    version: str = "1"
    sample_rate: int = 44_100
    hop_length: int = 256
    fmin_hz: float = 87.30705785825097  # F2, as in the original sampleChop
    n_bins: int = 48
    bins_per_octave: int = 12
    context_frames: int = 30
    log_compress: bool = False
    long_context_blocks: int = 0
    long_block_frames: int = 8

    @property
    def window_width(self) -> int:
        """Values per model input: the short window, then the long one if any."""
        long_width = 2 * self.long_context_blocks + 1 if self.long_context_blocks else 0
        return 2 * self.context_frames + 1 + long_width

    @property
    def frame_duration_s(self) -> float:
        return self.hop_length / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SeedFeatureSpec:
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


SEED_SPEC = SeedFeatureSpec()


def cqt_magnitude(mono: np.ndarray, spec: SeedFeatureSpec = SEED_SPEC) -> np.ndarray:
    """Constant-Q magnitude of a mono analysis signal: shape (n_bins, frames), float32.

    Frame ``i`` is centred on sample ``i * hop_length`` (time ``i * hop_length / sample_rate`` seconds).
    """
    cqt = librosa.cqt(
        mono,
        sr=spec.sample_rate,
        hop_length=spec.hop_length,
        fmin=spec.fmin_hz,
        n_bins=spec.n_bins,
        bins_per_octave=spec.bins_per_octave,
    )
    return np.abs(cqt).astype(np.float32)


def record_features(mono: np.ndarray, spec: SeedFeatureSpec = SEED_SPEC) -> tuple[np.ndarray, np.ndarray]:
    """The model inputs of every frame of a record, and the CQT they came from.

    Returns ``(windows, cqt)``: windows has shape (frames, window_width), float32, one row per frame;
    cqt has shape (n_bins, frames) and is kept for the harmonic spectrogram and onset envelope.
    """
    cqt = cqt_magnitude(mono, spec)
    return feature_windows(summed_cqt(cqt, log_compress=spec.log_compress), spec), cqt


def feature_windows(per_frame: np.ndarray, spec: SeedFeatureSpec = SEED_SPEC) -> np.ndarray:
    """Model inputs from per-frame CQT sums: (frames, window_width), float32."""
    short = context_windows(per_frame, spec.context_frames)
    if not spec.long_context_blocks:
        return short
    long = block_context_windows(per_frame, spec.long_context_blocks, spec.long_block_frames)
    return np.ascontiguousarray(np.concatenate([short, long], axis=1))
