"""Feature shapes, units and decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from shared_features import (
    FEATURE_SPEC,
    AudioDecodeError,
    context_windows,
    decode_audio,
    frames_to_seconds,
    harmonic_frames,
    mel_onset_strength,
    record_features,
    seconds_to_frames,
)
from tests.synth import beat_record


def test_windows_have_one_row_per_frame_and_61_values() -> None:
    record = beat_record(3.0, channels=1)
    windows, cqt = record_features(record.audio[:, 0])
    expected_frames = 1 + record.audio.shape[0] // FEATURE_SPEC.hop_length
    assert windows.shape == (expected_frames, 61)
    assert cqt.shape == (FEATURE_SPEC.n_bins, expected_frames)
    assert windows.dtype == np.float32
    # Each window is z-scored.
    busy = windows[np.std(windows, axis=1) > 0]
    np.testing.assert_allclose(busy.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(busy.std(axis=1), 1.0, atol=1e-3)


def test_context_window_centre_is_the_frame_itself() -> None:
    per_frame = np.arange(100, dtype=np.float32) ** 2
    windows = context_windows(per_frame, 30)
    raw = np.pad(per_frame, 30, mode="edge")
    for frame in (0, 17, 99):
        segment = raw[frame : frame + 61]
        np.testing.assert_allclose(windows[frame], (segment - segment.mean()) / segment.std(), rtol=1e-4, atol=1e-4)


def test_silent_window_is_all_zeros() -> None:
    windows = context_windows(np.zeros(10, dtype=np.float32), 30)
    assert np.all(windows == 0.0)


def test_frame_time_conversions_round_trip() -> None:
    frames = np.array([0, 1, 172, 10_000])
    seconds = frames_to_seconds(frames, 256, 44_100)
    assert seconds[2] == pytest.approx(172 * 256 / 44_100)
    np.testing.assert_array_equal(seconds_to_frames(seconds, 256, 44_100), frames)


def test_onset_envelope_peaks_at_a_click() -> None:
    from shared_features.frames import upsample_envelope

    rate, hop = FEATURE_SPEC.sample_rate, FEATURE_SPEC.hop_length
    audio = np.zeros(rate * 2, dtype=np.float32)
    click_s = 1.2
    start = int(click_s * rate)
    audio[start : start + 2000] = np.random.default_rng(0).standard_normal(2000) * np.exp(-np.arange(2000) / 300)
    windows, _ = record_features(audio)
    # As the engine takes it: at twice the feature hop, interpolated onto the feature frames.
    envelope = upsample_envelope(mel_onset_strength(audio, rate, 2 * hop), 2, windows.shape[0])
    assert envelope.shape == (windows.shape[0],)
    peak_s = frames_to_seconds(int(np.argmax(envelope)), FEATURE_SPEC.hop_length, rate)
    assert abs(peak_s - click_s) <= 0.02


def test_harmonic_frames_tell_chords_apart() -> None:
    record = beat_record(8.0, bpm=60.0, channels=1, lead_in_s=0.5)
    _, cqt = record_features(record.audio[:, 0])
    frames = seconds_to_frames(record.downbeats_s + 0.5, FEATURE_SPEC.hop_length, FEATURE_SPEC.sample_rate)
    harmonic = harmonic_frames(cqt, frames, window_frames=10)
    assert harmonic.shape == (frames.size, FEATURE_SPEC.n_bins)
    # Downbeats 0 and 1 carry different chords: further apart than the same chord with itself.
    assert np.linalg.norm(harmonic[0] - harmonic[1]) > 0.01


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


def test_block_context_windows_average_blocks_around_the_frame() -> None:
    from shared_features.frames import block_context_windows

    per_frame = np.arange(200, dtype=np.float32)
    windows = block_context_windows(per_frame, blocks=3, block_frames=4)
    assert windows.shape == (200, 7)
    # A linear ramp stays linear after block averaging, so every interior window z-scores to the same line.
    np.testing.assert_allclose(windows[50], windows[120], atol=1e-5)
    assert np.all(np.diff(windows[100]) > 0)


def test_a_spec_with_long_context_widens_the_input() -> None:
    from shared_features import FeatureSpec
    from shared_features.spec import feature_windows

    spec = FeatureSpec(version="test", long_context_blocks=32)
    assert spec.window_width == 61 + 65
    assert feature_windows(np.random.default_rng(0).random(300).astype(np.float32), spec).shape == (300, 126)


def test_harmonic_frames_equal_librosa_hpss_around_each_frame() -> None:
    import librosa

    cqt = np.abs(np.random.default_rng(0).standard_normal((48, 600))).astype(np.float32)
    frames = np.array([0, 7, 300, 599])
    window, margin = 20, 15
    padded = np.pad(cqt, ((0, 0), (margin, margin + window)), mode="edge")
    expected = []
    for frame in frames:
        harmonic, _ = librosa.decompose.hpss(padded[:, frame : frame + 2 * margin + window], kernel_size=31)
        expected.append(np.log1p(100 * harmonic[:, margin : margin + window].mean(axis=1)))
    np.testing.assert_allclose(harmonic_frames(cqt, frames, window_frames=window), expected, rtol=1e-5, atol=1e-6)
    assert harmonic_frames(cqt, np.array([], dtype=int)).shape == (0, 48)
