"""Feature spec 2 (samplechop/shared_features/spectral.py): frame timing, units, agreement with librosa, edge cases."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from samplechop.shared_features.spectral import (
    PITCH_CLASSES,
    SPECTRAL_SPEC,
    SpectralSpec,
    band_frequencies_hz,
    compute_features,
    filterbank_matrix,
    frame_count,
    frame_times_s,
)

SR = SPECTRAL_SPEC.sample_rate
REPO = Path(__file__).resolve().parent.parent


def _tone(freq_hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _midi_hz(midi: int) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _chord(midis: tuple[int, ...], seconds: float = 3.0) -> np.ndarray:
    """Decaying notes with six harmonics each, 1/h^1.5 amplitudes: a plucked-string-like chord."""
    t = np.arange(round(seconds * SR)) / SR
    y = sum(np.exp(-0.5 * t) * np.sin(2 * np.pi * _midi_hz(m) * h * t) / h**1.5 for m in midis for h in range(1, 7))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _noise(seconds: float, seed: int) -> np.ndarray:
    """White noise with a loudness that jumps every 0.1 s, plus two tones: a signal with structure everywhere."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    level = np.repeat(rng.uniform(0.02, 0.5, n // 2205 + 1), 2205)[:n]
    return (level * rng.standard_normal(n) + _tone(196.0, seconds, 0.2) + _tone(2500.0, seconds, 0.1)).astype(
        np.float32
    )


# --- frames and times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_samples", [1, 440, 441, 442, 22_050, 3 * 22_050 + 17])
def test_frame_count_matches_centred_frames(n_samples: int) -> None:
    import librosa

    signal = _noise(n_samples / SR, seed=n_samples)
    features = compute_features(signal)
    assert signal.size == n_samples
    assert features.n_frames == frame_count(n_samples) == 1 + n_samples // 441
    # librosa's centred STFT makes the same frames (the log bands are compared with it frame by frame below).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns that 1024 points is long for a 1-sample signal
        assert librosa.stft(signal, n_fft=1024, hop_length=441).shape[1] == features.n_frames
    assert features.model_input.shape[0] == features.chroma.shape[0] == features.onset_envelope.shape[0]


def test_frame_times_are_hop_multiples() -> None:
    times = frame_times_s(251)
    assert times.dtype == np.float64 and times.shape == (251,)
    assert times[0] == 0.0 and times[1] == pytest.approx(0.02) and times[250] == pytest.approx(5.0)
    assert SPECTRAL_SPEC.frame_rate_hz == 50.0
    assert compute_features(_tone(440.0, 1.0)).frame_rate_hz == 50.0


@pytest.mark.parametrize("offset_ms", [-6.0, -3.0, 0.0, 3.0, 6.0, 9.0])
def test_click_peaks_in_onset_envelope_at_its_frame(offset_ms: float) -> None:
    """Clicks at t s (off the frame grid by ``offset_ms``) peak at frame round(t · 50), loud or quiet, in noise.

    The flux leads by ~2 ms: a click 7–10 ms before a frame centre peaks one frame early (documented limit).
    """
    rng = np.random.default_rng(7)
    signal = (1e-4 * rng.standard_normal(6 * SR)).astype(np.float32)
    click_times_s = [0.5 + k * 0.5 + offset_ms / 1000 for k in range(10)]
    for k, t in enumerate(click_times_s):
        signal[round(t * SR)] += 1.0 if k % 2 else 0.02
    envelope = compute_features(signal).onset_envelope
    for t in click_times_s:
        expected = round(t * 50)
        local = envelope[expected - 10 : expected + 11]
        assert expected - 10 + int(np.argmax(local)) == expected, (t, local.round(3))


def test_frame_zero_is_not_an_onset() -> None:
    features = compute_features(_tone(440.0, 1.0))
    assert features.onset_envelope[0] == 0.0
    assert np.all(features.model_input[0, SPECTRAL_SPEC.flux_slice] == 0.0)


# --- units: bands and chroma --------------------------------------------------------------------------------


@pytest.mark.parametrize("freq_hz", [100.0, 440.0, 1000.0, 3000.0, 8000.0])
def test_sine_peaks_in_the_band_that_holds_it(freq_hz: float) -> None:
    bands = compute_features(_tone(freq_hz, 1.0)).log_bands[10:-10].mean(axis=0)
    centre_hz = band_frequencies_hz()[int(np.argmax(bands))]
    bin_hz = SR / SPECTRAL_SPEC.n_fft
    # Within a semitone, or within one FFT bin at the bottom where a band is one bin.
    assert abs(12 * np.log2(centre_hz / freq_hz)) <= 1.0 or abs(centre_hz - freq_hz) <= bin_hz


@pytest.mark.parametrize(("midi", "name"), [(69, "A"), (33, "A"), (40, "E"), (60, "C"), (75, "D#")])
def test_sine_lands_in_its_pitch_class(midi: int, name: str) -> None:
    chroma = compute_features(_tone(_midi_hz(midi), 2.0)).chroma[30:-30].mean(axis=0)
    assert PITCH_CLASSES[int(np.argmax(chroma))] == name
    index = PITCH_CLASSES.index(name)
    others = np.delete(chroma, [(index - 1) % 12, index, (index + 1) % 12])
    assert chroma[index] > 0.95 and others.max() < 0.05  # A1 (55 Hz) too: the decimated STFT resolves it


def test_filterbank_is_twelve_bands_an_octave_from_30_hz() -> None:
    weights = filterbank_matrix()
    centres_hz = band_frequencies_hz()
    assert weights.shape == (SPECTRAL_SPEC.n_fft // 2 + 1, SPECTRAL_SPEC.n_bands)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-5)
    assert np.all(np.diff(centres_hz) > 0) and 30.0 <= centres_hz[0] < 50.0 and centres_hz[-1] > 9000.0
    upper = centres_hz[centres_hz > 1000.0]
    octaves = np.log2(upper[-1] / upper[0])
    assert abs((upper.size - 1) / octaves - 12.0) < 0.5


def test_log_bands_match_librosa_stft_folded_into_the_bands() -> None:
    import librosa

    signal = _noise(12.0, seed=3)  # 601 frames: crosses the 512-frame block edge
    features = compute_features(signal)
    magnitude = np.abs(librosa.stft(signal, n_fft=1024, hop_length=441, window="hann", center=True))
    reference = np.log10(1.0 + magnitude.T @ filterbank_matrix())
    assert reference.shape == features.log_bands.shape
    np.testing.assert_allclose(features.log_bands, reference, atol=2e-5)


@pytest.mark.parametrize(
    ("name", "midis", "tones"),
    [
        ("C", (36, 60, 64, 67), ("C", "E", "G")),
        ("Am", (33, 57, 60, 64), ("A", "C", "E")),
        ("G7", (43, 59, 62, 65), ("G", "B", "D", "F")),
        ("F#m", (42, 61, 66, 69), ("F#", "A", "C#")),
    ],
)
def test_chroma_agrees_with_librosa_on_chords(name: str, midis: tuple[int, ...], tones: tuple[str, ...]) -> None:
    import librosa

    chord = _chord(midis)
    ours = compute_features(chord).chroma[25:-25].mean(axis=0)
    theirs = librosa.feature.chroma_stft(y=chord, sr=SR, n_fft=4096, hop_length=441)[:, 25:-25].mean(axis=1)
    assert np.corrcoef(ours, theirs)[0, 1] > 0.85, (name, ours.round(2), theirs.round(2))
    top = {PITCH_CLASSES[i] for i in np.argsort(ours)[::-1][: len(tones)]}
    assert top == set(tones)


@pytest.mark.parametrize("change_s", [1.5, 1.51, 1.523])
def test_chroma_is_aligned_with_the_frames(change_s: float) -> None:
    """C4 switching to A3 at ``change_s``: C and A cross at frame change_s · 50 (the long window is centred too)."""
    n = 3 * SR
    switch = round(change_s * SR)
    signal = np.concatenate([_tone(_midi_hz(60), 3.0)[:switch], _tone(_midi_hz(57), 3.0)[switch:n]])
    chroma = compute_features(signal).chroma
    difference = chroma[:, PITCH_CLASSES.index("C")] - chroma[:, PITCH_CLASSES.index("A")]
    after = int(np.flatnonzero(difference < 0)[0])
    crossing = after - 1 + difference[after - 1] / (difference[after - 1] - difference[after])
    assert abs(crossing - change_s * 50) < 0.5


@pytest.mark.parametrize("alias_hz", [2450 - 523.25, 2450 + 523.25, 4900 - 523.25, 9800 - 523.25])
def test_decimation_keeps_aliases_out_of_the_chroma(alias_hz: float) -> None:
    """A loud tone that folds onto C5 at the 2450 Hz chroma rate must not outweigh an E4 40 dB quieter."""
    signal = _tone(alias_hz, 2.0, 0.5) + _tone(_midi_hz(64), 2.0, 0.005)
    chroma = compute_features(signal).chroma[30:-30].mean(axis=0)
    assert PITCH_CLASSES[int(np.argmax(chroma))] == "E" and chroma[0] < 0.05


# --- edge cases, determinism, layout ------------------------------------------------------------------------


def test_silence_gives_finite_zeros() -> None:
    features = compute_features(np.zeros(2 * SR, dtype=np.float32))
    for values in (features.model_input, features.log_bands, features.chroma, features.onset_envelope):
        assert np.all(np.isfinite(values)) and not np.any(values)


def test_fields_have_documented_dtypes_shapes_and_layout() -> None:
    spec = SPECTRAL_SPEC
    features = compute_features(_noise(2.0, seed=5).astype(np.float64))  # float64 input is accepted
    n = features.n_frames
    assert features.model_input.shape == (n, spec.n_features) and spec.n_features == 2 * spec.n_bands + 12
    assert features.log_bands.shape == (n, spec.n_bands)
    assert features.chroma.shape == (n, 12) and features.onset_envelope.shape == (n,)
    for values in (features.model_input, features.log_bands, features.chroma, features.onset_envelope):
        assert values.dtype == np.float32 and values.flags.c_contiguous
    flux = features.model_input[:, spec.flux_slice]
    np.testing.assert_array_equal(features.model_input[:, spec.band_slice], features.log_bands)
    np.testing.assert_array_equal(features.model_input[:, spec.chroma_slice], features.chroma)
    np.testing.assert_allclose(flux[1:], np.maximum(np.diff(features.log_bands, axis=0), 0), atol=1e-6)
    np.testing.assert_allclose(features.onset_envelope, flux.sum(axis=1), rtol=1e-5)
    assert features.chroma.min() >= 0.0 and features.chroma.max() == pytest.approx(1.0)
    # Fixed compression, no per-record scaling: full-scale material stays in a small range.
    assert features.log_bands.min() >= 0.0 and features.log_bands.max() < 3.0


def test_same_input_same_features() -> None:
    signal = _noise(3.0, seed=11)
    first, second, one_worker = compute_features(signal), compute_features(signal), compute_features(signal, workers=1)
    for a, b, c in zip(
        (first.model_input, first.onset_envelope),
        (second.model_input, second.onset_envelope),
        (one_worker.model_input, one_worker.onset_envelope),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_block_sizes_do_not_show(monkeypatch: pytest.MonkeyPatch) -> None:
    """Odd block sizes (STFT, decimation, BLAS pieces) give the same features: no seams at block edges."""
    from samplechop.shared_features import spectral

    signal = _noise(6.0, seed=2)
    reference = compute_features(signal)
    monkeypatch.setattr(spectral, "BLOCK_FRAMES", 37)
    monkeypatch.setattr(spectral, "DECIMATION_BLOCK_SAMPLES", 5_000)
    monkeypatch.setattr(spectral, "SINGLE_THREAD_MACS", 3_000)
    reblocked = compute_features(signal)
    np.testing.assert_allclose(reblocked.log_bands, reference.log_bands, atol=1e-5)
    np.testing.assert_allclose(reblocked.chroma, reference.chroma, atol=1e-4)
    np.testing.assert_allclose(reblocked.onset_envelope, reference.onset_envelope, atol=1e-4)


def test_more_record_after_does_not_change_what_came_before() -> None:
    """Frames a window away from the end do not depend on what follows (no whole-record normalisation)."""
    signal = _noise(6.0, seed=9)
    short, long = compute_features(signal[: 4 * SR]), compute_features(signal)
    np.testing.assert_allclose(short.log_bands[:190], long.log_bands[:190], atol=1e-5)
    np.testing.assert_allclose(short.chroma[:185], long.chroma[:185], atol=1e-4)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.zeros((2, 100), dtype=np.float32), "1-D"),
        (np.zeros(1000, dtype=np.int16), "floating-point"),
        (np.array([0.0, np.nan] * 500, dtype=np.float32), "non-finite"),
    ],
)
def test_bad_input_is_a_clear_error(bad: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_features(bad)


def test_memory_stays_bounded_by_the_outputs() -> None:
    """No whole-record framing or padding: beyond its outputs a 5-minute record needs only block buffers."""
    signal = _noise(300.0, seed=4)
    compute_features(signal[:SR])
    tracemalloc.start()
    try:
        features = compute_features(signal)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    outputs = sum(a.nbytes for a in (features.model_input, features.log_bands, features.chroma))
    # Framing 5 minutes whole would alone be 15 001 × 1024 × 4 B = 61 MB.
    assert peak_bytes - outputs < 24e6, (peak_bytes, outputs)


# --- the spec -----------------------------------------------------------------------------------------------


def test_spec_round_trips_and_validates() -> None:
    spec = SPECTRAL_SPEC
    assert spec.version == "2" and spec.sample_rate == 22_050 and spec.hop_length == 441
    assert SpectralSpec.from_dict({**spec.to_dict(), "unknown": 1}) == spec
    changed = replace(spec, bands_per_octave=6)
    assert SpectralSpec.from_dict(changed.to_dict()) == changed and changed.n_bands < spec.n_bands
    assert compute_features(_tone(440.0, 1.0), changed).model_input.shape[1] == changed.n_features
    with pytest.raises(ValueError, match="invalid SpectralSpec"):
        SpectralSpec(chroma_decimation=4)
    with pytest.raises(ValueError, match="invalid SpectralSpec"):
        SpectralSpec(fmin_hz=20_000.0)


# --- imports ------------------------------------------------------------------------------------------------

_IMPORT_CHECK = """
import sys
{load}
import numpy as np
features = module.compute_features(np.random.default_rng(0).standard_normal(22050).astype(np.float32))
assert features.n_frames == 51
heavy = sorted(name for name in ("librosa", "numba") if name in sys.modules)
assert not heavy, heavy
"""


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_spectral_module_imports_neither_librosa_nor_numba() -> None:
    """The module itself (loaded on its own, without the package's __init__) and a full run pull in neither."""
    load = (
        "import importlib.util\n"
        "found = importlib.util.spec_from_file_location('spectral_alone', 'samplechop/shared_features/spectral.py')\n"
        "module = importlib.util.module_from_spec(found)\n"
        "sys.modules['spectral_alone'] = module\n"
        "found.loader.exec_module(module)\n"
        "assert 'samplechop.shared_features' not in sys.modules"
    )
    result = _run_python(_IMPORT_CHECK.format(load=load))
    assert result.returncode == 0, result.stderr


def test_package_import_pulls_in_neither_librosa_nor_numba() -> None:
    result = _run_python(_IMPORT_CHECK.format(load="import samplechop.shared_features.spectral as module"))
    assert result.returncode == 0, result.stderr
