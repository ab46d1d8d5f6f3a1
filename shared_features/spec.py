"""The feature spec: every number that decides what a model sees, under one version.

A model records the spec it was trained on (in its model card); the service refuses a model whose spec differs
from :data:`FEATURE_SPEC`. Change any field here and bump ``version``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import librosa
import numpy as np

from shared_features.frames import block_context_windows, context_windows, summed_cqt


@dataclass(frozen=True)
class FeatureSpec:
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
    def from_dict(cls, values: dict[str, Any]) -> FeatureSpec:
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


FEATURE_SPEC = FeatureSpec()
FEATURE_VERSION = FEATURE_SPEC.version


def cqt_magnitude(mono: np.ndarray, spec: FeatureSpec = FEATURE_SPEC) -> np.ndarray:
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


def record_features(mono: np.ndarray, spec: FeatureSpec = FEATURE_SPEC) -> tuple[np.ndarray, np.ndarray]:
    """The model inputs of every frame of a record, and the CQT they came from.

    Returns ``(windows, cqt)``: windows has shape (frames, window_width), float32, one row per frame;
    cqt has shape (n_bins, frames) and is kept for the harmonic spectrogram and onset envelope.
    """
    cqt = cqt_magnitude(mono, spec)
    return feature_windows(summed_cqt(cqt, log_compress=spec.log_compress), spec), cqt


def feature_windows(per_frame: np.ndarray, spec: FeatureSpec = FEATURE_SPEC) -> np.ndarray:
    """Model inputs from per-frame CQT sums: (frames, window_width), float32."""
    short = context_windows(per_frame, spec.context_frames)
    if not spec.long_context_blocks:
        return short
    long = block_context_windows(per_frame, spec.long_context_blocks, spec.long_block_frames)
    return np.ascontiguousarray(np.concatenate([short, long], axis=1))
