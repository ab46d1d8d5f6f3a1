"""Decoding any common audio file to the analysis copy the features use."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


class AudioDecodeError(ValueError):
    """The input is not audio this project can decode (or it holds no samples)."""


@dataclass(frozen=True)
class DecodedAudio:
    """A record as decoded: the original samples (for slicing) and the mono analysis copy (for features).

    ``original`` has shape (samples, channels) at ``original_rate`` Hz; ``mono`` is float32 at ``analysis_rate`` Hz.
    """

    original: np.ndarray
    original_rate: int
    mono: np.ndarray
    analysis_rate: int
    codec: str

    @property
    def duration_s(self) -> float:
        return self.original.shape[0] / float(self.original_rate)

    @property
    def channels(self) -> int:
        return int(self.original.shape[1])


AudioSource = str | Path | bytes


def _is_empty_file(path: str | Path) -> bool:
    try:
        return Path(path).stat().st_size == 0
    except OSError:
        return False


def read_audio(source: AudioSource) -> tuple[np.ndarray, int, str]:
    """Decode ``source`` (a path or the file's bytes) to float32 samples of shape (samples, channels).

    Returns (samples, sample_rate_hz, codec description). Raises :class:`AudioDecodeError` on anything that is
    not decodable audio or that holds no samples.
    """
    handle: str | io.BytesIO = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    if (isinstance(source, bytes) and not source) or (not isinstance(source, bytes) and _is_empty_file(source)):
        raise AudioDecodeError("the file is empty")
    try:
        with sf.SoundFile(handle) as audio_file:
            codec = f"{audio_file.format}/{audio_file.subtype}"
            samples = audio_file.read(dtype="float32", always_2d=True)
            rate = int(audio_file.samplerate)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        detail = getattr(error, "error_string", "") or "unrecognised or corrupt data"
        if "does not exist" in detail:  # libsndfile's words for data its MP3 reader rejects
            detail = "unrecognised or corrupt data"
        raise AudioDecodeError(f"not a readable audio file (WAV, FLAC, OGG or MP3 expected): {detail}") from error
    except FileNotFoundError as error:
        raise AudioDecodeError(f"no such file: {source}") from error
    if samples.shape[0] == 0:
        raise AudioDecodeError("the audio holds no samples")
    if not np.all(np.isfinite(samples)):
        raise AudioDecodeError("the audio holds non-finite samples")
    return samples, rate, codec


def to_mono(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Average channels and resample (soxr, high quality) to ``target_rate`` Hz; float32, 1-D."""
    if samples.ndim == 2:
        # A matrix-vector product averages channels ~40x faster than a strided mean over axis 1.
        mono = samples.astype(np.float32, copy=False) @ np.full(samples.shape[1], 1.0 / samples.shape[1], np.float32)
    else:
        mono = samples.astype(np.float32)
    if rate != target_rate:
        mono = soxr.resample(mono, rate, target_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def decode_audio(source: AudioSource, analysis_rate: int) -> DecodedAudio:
    """Decode a path or bytes into a :class:`DecodedAudio` with a mono analysis copy at ``analysis_rate`` Hz."""
    samples, rate, codec = read_audio(source)
    return DecodedAudio(
        original=samples,
        original_rate=rate,
        mono=to_mono(samples, rate, analysis_rate),
        analysis_rate=analysis_rate,
        codec=codec,
    )
