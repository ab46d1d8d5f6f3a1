"""Features shared by the trainer and the service.

Both sides import this package and nothing else to turn audio into model inputs, so a model trained on one
feature spec is only ever fed that spec's features. Units are named in every signature: ``*_s`` seconds,
``*_frames`` analysis frames (one hop apart), ``*_samples`` audio samples at the spec's sample rate.
"""

from shared_features.audio import AudioDecodeError, DecodedAudio, decode_audio
from shared_features.frames import (
    context_windows,
    frames_to_seconds,
    mel_onset_strength,
    seconds_to_frames,
    summed_cqt,
)
from shared_features.harmonic import harmonic_frames
from shared_features.spec import FEATURE_SPEC, FEATURE_VERSION, FeatureSpec, cqt_magnitude, record_features

__all__ = [
    "FEATURE_SPEC",
    "FEATURE_VERSION",
    "AudioDecodeError",
    "DecodedAudio",
    "FeatureSpec",
    "context_windows",
    "cqt_magnitude",
    "decode_audio",
    "frames_to_seconds",
    "harmonic_frames",
    "mel_onset_strength",
    "record_features",
    "seconds_to_frames",
    "summed_cqt",
]
