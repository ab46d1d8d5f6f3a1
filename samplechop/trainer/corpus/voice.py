"""A small formant voice: sung lines and rap, because real full mixes almost always have a voice on top.

Source-filter synthesis in numpy/scipy: an anti-aliased (PolyBLEP) sawtooth at the sung pitch — with scoops into
notes, glides between legato notes and delayed vibrato — through parallel formant resonators for one of five vowels
per syllable, plus breath noise and consonant noise bursts at syllable onsets. Rap is the same
voice speaking: short syllables on a sixteenth grid around a speaking pitch that falls through each phrase.
It is not a singer, but it puts the things a singer puts into a mix — pitched, vowel-shaped, off-grid syllable
onsets, vibrato — where the beat tracker must learn to look past them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

# Formant frequencies (Hz) of five vowels, average adult male (Peterson & Barney, 1952); a female voice scales them.
VOWELS = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (300.0, 870.0, 2240.0),
}
FORMANT_GAINS = (1.0, 0.5, 0.25)  # higher formants are weaker in voiced speech
FORMANT_BW_HZ = (80.0, 100.0, 140.0)


@dataclass(frozen=True)
class Syllable:
    on_s: float
    off_s: float
    pitch: float  # MIDI note number (fractional allowed)
    velocity: int


@dataclass(frozen=True)
class VoiceStyle:
    female: bool
    rap: bool
    vibrato_hz: float
    vibrato_cents: float
    scoop_cents: float
    breath: float  # breath-noise level relative to the voiced part


def _polyblep_saw(f0_hz: np.ndarray, sample_rate: int, phase0: float) -> tuple[np.ndarray, float]:
    """Sawtooth at f0 (one value per sample) starting at phase0; returns it and the phase to continue from."""
    dt = np.clip(f0_hz / sample_rate, 1e-6, 0.45)
    acc = phase0 + np.cumsum(dt)
    phase = acc % 1.0
    saw = 2.0 * phase - 1.0
    # PolyBLEP: smooth the jump where the phase wraps, which removes most of the aliasing.
    lo = phase < dt
    t = phase[lo] / dt[lo]
    saw[lo] -= t + t - t * t - 1.0
    hi = phase > 1.0 - dt
    t = (phase[hi] - 1.0) / dt[hi]
    saw[hi] -= t * t + t + t + 1.0
    return saw, float(acc[-1] % 1.0)


def _formant_filters(scale: float, sample_rate: int) -> list[list[tuple[np.ndarray, np.ndarray, float]]]:
    """Per vowel: (b, a, gain) of each formant resonator."""
    out = []
    for name in VOWELS:
        bank = []
        for f, g, bw in zip(VOWELS[name], FORMANT_GAINS, FORMANT_BW_HZ, strict=True):
            freq = min(f * scale, 0.45 * sample_rate)
            b, a = signal.iirpeak(freq, freq / bw, fs=sample_rate)
            bank.append((b, a, g))
        out.append(bank)
    return out


def render_voice(
    syllables: list[Syllable],
    n_samples: int,
    offset_s: float,
    sample_rate: int,
    style: VoiceStyle,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mono float32 stem; sample 0 is time ``-offset_s``.

    Each syllable is filtered on its own (its vowel's resonators, plus a 40 ms tail for them to ring out), so the
    cost is one filter bank pass over the sung samples whatever the number of vowels.
    """
    out = np.zeros(n_samples)
    ordered = [s for s in sorted(syllables, key=lambda s: s.on_s) if s.off_s > s.on_s]
    if not ordered:
        return out.astype(np.float32)
    banks = _formant_filters(1.17 if style.female else 1.0, sample_rate)
    tail = int(0.04 * sample_rate)
    hp_b, hp_a = signal.butter(2, 3500, btype="highpass", fs=sample_rate)
    prev_end, prev_hz, phase = -1, 0.0, 0.0
    for syl in ordered:
        on = max(0, round((syl.on_s + offset_s) * sample_rate))
        off = min(n_samples, round((syl.off_s + offset_s) * sample_rate))
        if off <= on + 16:
            continue
        n = off - on
        t = np.arange(n) / sample_rate
        hz = 440.0 * 2 ** ((syl.pitch - 69) / 12)
        cents = np.zeros(n)
        if 0 < on - prev_end < int(0.03 * sample_rate) and prev_hz > 0:
            # Glide from the previous note over 40 ms, as a singer slurs.
            cents += 1200 * np.log2(prev_hz / hz) * np.clip(1 - t / 0.04, 0, 1)
        elif style.scoop_cents:
            cents -= style.scoop_cents * np.clip(1 - t / 0.07, 0, 1)
        if style.vibrato_cents and not style.rap:
            cents += style.vibrato_cents * np.clip((t - 0.18) / 0.25, 0, 1) * np.sin(2 * np.pi * style.vibrato_hz * t)
        if style.rap:
            cents += np.linspace(0, -float(rng.uniform(50, 250)), n)  # speech falls through a syllable
        f0 = hz * 2 ** (cents / 1200)
        saw, phase = _polyblep_saw(f0, sample_rate, phase)
        attack = min(n, int(0.012 * sample_rate))
        release = min(n // 2, int((0.02 if style.rap else 0.05) * sample_rate))
        env = np.ones(n)
        env[:attack] = np.linspace(0, 1, attack)
        if release:
            env[-release:] *= np.linspace(1, 0, release)
        src = np.concatenate([(saw + rng.standard_normal(n) * style.breath) * env, np.zeros(tail)])
        bank = banks[int(rng.integers(len(banks)))]
        voiced = sum(g * signal.lfilter(b, a, src) for b, a, g in bank) * (syl.velocity / 127.0)
        end = min(n_samples, on + n + tail)
        out[on:end] += voiced[: end - on]
        if rng.random() < (0.8 if style.rap else 0.5):
            # A consonant: a short burst of high-passed noise at the syllable's onset (s/t/k-like, 10-60 ms).
            m = min(n, int(rng.uniform(0.01, 0.06) * sample_rate))
            burst = signal.lfilter(hp_b, hp_a, rng.standard_normal(m)) * np.linspace(1, 0, m) ** 2
            out[on : on + m] += burst * float(rng.uniform(0.1, 0.35)) * (syl.velocity / 127.0)
        prev_end, prev_hz = off, hz
    return out.astype(np.float32)
