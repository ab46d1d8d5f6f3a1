"""Key estimation on synthetic chord progressions whose key is known, through the real chroma features."""

from __future__ import annotations

import numpy as np
import pytest

from samplechop.service.engine.key import Key, chop_keys, estimate_key, note_amplitudes, pitch_class_profile
from samplechop.shared_features import FEATURE_SPEC, compute_features
from samplechop.shared_features.spectral import PITCH_CLASSES
from tests.synth import beat_record

RATE = FEATURE_SPEC.sample_rate
CHORD_S = 1.5
QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "dom7": (0, 4, 7, 10)}
# (semitones above the tonic, quality) for each chord
PROGRESSIONS = {
    "I-IV-V-I": [(0, "maj"), (5, "maj"), (7, "dom7"), (0, "maj")],
    "I-vi-IV-V": [(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")],
    "i-iv-V-i": [(0, "min"), (5, "min"), (7, "dom7"), (0, "min")],
    "i-VII-VI-V": [(0, "min"), (10, "maj"), (8, "maj"), (7, "maj")],
}


def _tone(midi: int, seconds: float) -> np.ndarray:
    """A plucked tone: four harmonics falling as 1/k, a 10-ms attack and a slow decay."""
    t = np.arange(int(seconds * RATE)) / RATE
    frequency = 440.0 * 2.0 ** ((midi - 69) / 12)
    wave = sum(np.sin(2 * np.pi * frequency * k * t) / k for k in range(1, 5))
    return wave * np.minimum(1.0, t / 0.01) * np.exp(-0.8 * t)


def _chord(root_pitch_class: int, quality: str, seconds: float) -> np.ndarray:
    """A bass note on the root and the chord voiced above it, within the chroma range (A1–G#5)."""
    root = 48 + root_pitch_class if root_pitch_class < 6 else 36 + root_pitch_class
    wave = 0.8 * _tone(root - 12, seconds)
    for interval in QUALITIES[quality]:
        wave = wave + 0.5 * _tone(root + interval, seconds)
    return wave


def progression(tonic: str, name: str, *, repeats: int = 2, drums: bool = False) -> np.ndarray:
    """Mono float32 at the feature rate: the progression in the key of ``tonic``, played ``repeats`` times."""
    home = PITCH_CLASSES.index(tonic)
    chords = [_chord((home + step) % 12, quality, CHORD_S) for step, quality in PROGRESSIONS[name]]
    wave = np.concatenate(chords * repeats)
    if drums:
        kit = beat_record(wave.size / RATE, bpm=100.0, channels=1, rate=RATE, chords=False).audio[:, 0]
        wave[: kit.size] += 2.0 * kit
    return (0.25 * wave / np.max(np.abs(wave))).astype(np.float32)


def _key_of(wave: np.ndarray) -> Key | None:
    return estimate_key(compute_features(wave, FEATURE_SPEC).chroma)


@pytest.mark.parametrize(
    ("tonic", "mode", "name"),
    [("C", "major", "I-IV-V-I"), ("A", "minor", "i-iv-V-i"), ("F#", "major", "I-IV-V-I"), ("A", "minor", "i-VII-VI-V")],
)
@pytest.mark.parametrize("drums", [False, True])
def test_key_of_a_chord_progression(tonic: str, mode: str, name: str, drums: bool) -> None:
    key = _key_of(progression(tonic, name, drums=drums))
    assert key is not None
    assert (key.tonic, key.mode) == (tonic, mode)
    assert key.confidence > 0.02 and key.correlation > 0.3


def test_every_tonic_of_two_progressions() -> None:
    # 24 keys, one progression each way: the estimate follows the transposition, not one favourite key.
    for tonic in PITCH_CLASSES:
        for name, mode in (("I-vi-IV-V", "major"), ("i-iv-V-i", "minor")):
            key = _key_of(progression(tonic, name, repeats=1))
            assert key is not None and (key.tonic, key.mode) == (tonic, mode), (tonic, name, key)


def test_each_chop_gets_its_own_key() -> None:
    first, second = progression("C", "I-IV-V-I"), progression("F#", "I-IV-V-I")
    chroma = compute_features(np.concatenate([first, second]), FEATURE_SPEC).chroma
    half_s = first.size / RATE
    spans_s = [(0.0, half_s), (half_s, 2 * half_s), (1.0, 1.05)]
    keys = chop_keys(chroma, spans_s, frame_rate_hz=FEATURE_SPEC.frame_rate_hz)
    assert [(k.tonic, k.mode) if k else None for k in keys] == [("C", "major"), ("F#", "major"), None]


def test_drums_and_silence_have_no_key() -> None:
    drums = beat_record(6.0, bpm=100.0, channels=1, rate=RATE, chords=False).audio[:, 0]
    assert _key_of(drums) is None
    assert _key_of(np.zeros(RATE * 3, dtype=np.float32)) is None
    noise = (0.1 * np.random.default_rng(0).standard_normal(RATE * 3)).astype(np.float32)
    assert _key_of(noise) is None


def test_the_class_spreading_of_the_features_is_undone() -> None:
    # A lone C: the features spread it to B and C# (13.5 % each); the note amplitudes put it back on C alone.
    chroma = compute_features((0.2 * _tone(60, 2.0)).astype(np.float32), FEATURE_SPEC).chroma[20:60]
    assert chroma[:, 1].mean() > 0.1  # the spread is there
    amplitudes = note_amplitudes(chroma)
    assert np.all(amplitudes[:, 1] < 0.1 * amplitudes[:, 0])
    profile, weight = pitch_class_profile(chroma)
    assert int(np.argmax(profile)) == 0 and weight > 0


def test_both_profiles_and_bad_input() -> None:
    chroma = compute_features(progression("C", "I-IV-V-I"), FEATURE_SPEC).chroma
    key = estimate_key(chroma, profile="krumhansl-kessler")
    assert key is not None and key.name == "C major"
    assert key.to_dict() == {
        "tonic": "C",
        "mode": "major",
        "confidence": round(key.confidence, 4),
        "correlation": round(key.correlation, 4),
    }
    with pytest.raises(ValueError, match="key profile must be one of"):
        estimate_key(chroma, profile="shaath")
    with pytest.raises(ValueError, match=r"chroma must be \(frames, 12\)"):
        estimate_key(np.zeros((10, 13)))
    with pytest.raises(ValueError, match="finite, non-negative"):
        estimate_key(np.full((10, 12), np.nan))
    with pytest.raises(ValueError, match="one finite, non-negative weight per chroma frame"):
        estimate_key(chroma, frame_weights=np.ones(3))
