"""Features shared by the trainer and the service.

Both sides import this package and nothing else to turn audio into model inputs, so a model trained on one
feature spec is only ever fed that spec's features (feature spec 2: a log-frequency filterbank, its positive
difference and a pitch-class view at 50 frames/s; see :mod:`samplechop.shared_features.spectral`). Units are named in
every signature: ``*_s`` seconds, ``*_hz`` hertz, ``*_frames`` analysis frames, ``*_samples`` audio samples.
This package imports numpy, scipy and soundfile/soxr only: never librosa or numba.
"""

from samplechop.shared_features.audio import AudioDecodeError, AudioLimitError, DecodedAudio, decode_audio
from samplechop.shared_features.spectral import (
    SPECTRAL_SPEC,
    FrameFeatures,
    SpectralSpec,
    compute_features,
    frame_times_s,
)

FeatureSpec = SpectralSpec
FEATURE_SPEC = SPECTRAL_SPEC
FEATURE_VERSION = FEATURE_SPEC.version

__all__ = [
    "FEATURE_SPEC",
    "FEATURE_VERSION",
    "AudioDecodeError",
    "AudioLimitError",
    "DecodedAudio",
    "FeatureSpec",
    "FrameFeatures",
    "compute_features",
    "decode_audio",
    "frame_times_s",
]
