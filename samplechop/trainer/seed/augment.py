"""Pitch-shift augmentation in the CQT domain.

At 12 bins per octave a pitch shift of ``s`` semitones moves every CQT bin by ``s`` bins. Computing the CQT once
with ``max_shift`` spare bins below and above the spec's range, the summed CQT of the record shifted by ``s`` is the
sum over the band that lands on the spec's bins: ``extended[max_shift - s : max_shift - s + n_bins]``. One CQT then
serves all seven shifts (−3…+3) instead of seven phase-vocoder pitch shifts (~1.8 s per 10 s per semitone here).
``tests/test_seed_recipe.py`` checks this against ``librosa.effects.pitch_shift``.
"""

from __future__ import annotations

import librosa
import numpy as np

from samplechop.trainer.seed.features import SEED_SPEC, SeedFeatureSpec, summed_cqt

MAX_SHIFT = 3


def extended_cqt(mono: np.ndarray, spec: SeedFeatureSpec = SEED_SPEC, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """CQT magnitude with ``max_shift`` extra bins (semitones at 12 bins/octave) below and above the spec's range.

    Shape (n_bins + 2 * max_shift, frames); rows ``max_shift : max_shift + n_bins`` equal the spec's CQT.
    """
    if spec.bins_per_octave != 12:
        raise ValueError("the CQT-domain pitch shift needs 12 bins per octave (one bin per semitone)")
    cqt = librosa.cqt(
        mono,
        sr=spec.sample_rate,
        hop_length=spec.hop_length,
        fmin=spec.fmin_hz * 2.0 ** (-max_shift / 12.0),
        n_bins=spec.n_bins + 2 * max_shift,
        bins_per_octave=spec.bins_per_octave,
    )
    return np.abs(cqt).astype(np.float32)


def shifted_band(extended: np.ndarray, semitones: int, n_bins: int, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """The spec-sized CQT of the record pitch-shifted by ``semitones`` (positive = up), from an extended CQT."""
    if abs(semitones) > max_shift:
        raise ValueError(f"shift {semitones} is beyond the extended range ±{max_shift}")
    low = max_shift - semitones
    return extended[low : low + n_bins]


def shifted_summed_cqt(
    extended: np.ndarray, semitones: int, spec: SeedFeatureSpec = SEED_SPEC, max_shift: int = MAX_SHIFT
) -> np.ndarray:
    """Per-frame CQT sum of the record pitch-shifted by ``semitones``: shape (frames,)."""
    return summed_cqt(shifted_band(extended, semitones, spec.n_bins, max_shift), log_compress=spec.log_compress)
