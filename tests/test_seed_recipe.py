"""The seed recipe (feature spec 1): its CQT-domain pitch-shift shortcut against librosa's phase vocoder."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from samplechop.trainer.seed.augment import extended_cqt, shifted_summed_cqt
from samplechop.trainer.seed.features import SEED_SPEC, record_features
from tests.synth import beat_record


@pytest.mark.parametrize("semitones", [-3, -1, 2, 3])
def test_cqt_domain_shift_matches_librosa_pitch_shift(semitones: int) -> None:
    mono = beat_record(3.0, bpm=90.0, channels=1, seed=3).audio[:, 0]
    shortcut = shifted_summed_cqt(extended_cqt(mono), semitones)
    shifted = librosa.effects.pitch_shift(mono, sr=SEED_SPEC.sample_rate, n_steps=semitones)
    reference = record_features(shifted.astype(np.float32))[1].sum(axis=0)
    # The model sees z-scored 61-frame windows, so shape, not scale, is what must agree.
    assert np.corrcoef(shortcut, reference)[0, 1] > 0.95
    # ... and the shortcut really shifted: it is not the unshifted record's sum.
    unshifted = record_features(mono)[1].sum(axis=0)
    assert not np.allclose(shortcut, unshifted, rtol=1e-3)


def test_zero_shift_equals_the_spec_features() -> None:
    mono = beat_record(2.0, channels=1).audio[:, 0]
    _, cqt = record_features(mono)
    # librosa resamples per octave from the top bin down, so a lower fmin moves the octave edges a little;
    # the per-frame sums still move together.
    assert np.corrcoef(shifted_summed_cqt(extended_cqt(mono), 0), cqt.sum(axis=0))[0, 1] > 0.99
