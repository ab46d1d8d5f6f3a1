"""The shared feature package: what it exports, decoding every promised format, and the engine's HPSS against
librosa's."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from samplechop.shared_features import FEATURE_SPEC, AudioDecodeError, compute_features, decode_audio
from tests.synth import beat_record


def test_the_package_exports_the_spectral_front_end() -> None:
    assert FEATURE_SPEC.version == "2"
    assert FEATURE_SPEC.frame_rate_hz == pytest.approx(50.0)
    features = compute_features(beat_record(2.0, channels=1, rate=FEATURE_SPEC.sample_rate).audio[:, 0])
    assert features.model_input.shape == (features.onset_envelope.size, FEATURE_SPEC.n_features)


def test_the_feature_path_imports_neither_librosa_nor_numba() -> None:
    code = (
        "import samplechop.shared_features, samplechop.service.engine, sys; "
        "print(sorted({'librosa', 'numba'} & set(sys.modules)))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")]
)
def test_every_format_decodes_to_mono_at_the_analysis_rate(fmt: str, subtype: str) -> None:
    record = beat_record(2.0, channels=2, rate=48_000)
    buffer = io.BytesIO()
    sf.write(buffer, record.audio, 48_000, format=fmt, subtype=subtype)
    decoded = decode_audio(buffer.getvalue(), FEATURE_SPEC.sample_rate)
    assert decoded.original_rate == 48_000
    assert decoded.channels == 2
    assert decoded.mono.ndim == 1
    assert abs(decoded.mono.size / FEATURE_SPEC.sample_rate - 2.0) < 0.1


@pytest.mark.parametrize("data", [b"", b"this is not audio at all", b"RIFF\x24\x00\x00\x00WAVEfmt "])
def test_non_audio_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(AudioDecodeError):
        decode_audio(data, FEATURE_SPEC.sample_rate)


def test_harmonic_vectors_equal_librosa_hpss_around_each_frame() -> None:
    librosa = pytest.importorskip("librosa")
    from samplechop.service.engine.harmonic import harmonic_vectors

    spectrum = np.abs(np.random.default_rng(0).standard_normal((600, 40))).astype(np.float32)
    frames = np.array([0, 7, 300, 599])
    window, kernel = 20, 17
    margin = kernel // 2
    padded = np.pad(spectrum, ((margin, margin + window), (0, 0)), mode="edge")
    expected = []
    for frame in frames:
        local = padded[frame : frame + 2 * margin + window].T  # librosa wants (bins, time)
        harmonic, _ = librosa.decompose.hpss(local, kernel_size=kernel)
        vector = harmonic[:, margin : margin + window].mean(axis=1)
        expected.append(vector / np.linalg.norm(vector))
    actual = harmonic_vectors(spectrum, frames, window_frames=window, kernel_frames=kernel)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)
    assert harmonic_vectors(spectrum, np.array([], dtype=int), window_frames=window).shape == (0, 40)
