"""Record-like colouring: filters, saturation, compression, reverb, vinyl noise and level, all drawn from one rng.

Only causal, zero-latency processors are used, so transients (and hence labels) are not shifted in time.
"""

from __future__ import annotations

import numpy as np
import pedalboard


def vinyl_noise(rng: np.random.Generator, n: int, sample_rate: int, hiss_db: float, crackle_per_s: float) -> np.ndarray:
    """Mono hiss plus crackle: sparse clicks with a fast exponential decay and random polarity."""
    hiss = rng.standard_normal(n).astype(np.float32) * np.float32(10 ** (hiss_db / 20))
    # Pink-ish hiss: a one-pole lowpass takes the harsh top off white noise.
    hiss = pedalboard.LowpassFilter(cutoff_frequency_hz=6000.0)(hiss[None, :], sample_rate)[0]
    clicks = np.zeros(n, dtype=np.float32)
    n_clicks = rng.poisson(crackle_per_s * n / sample_rate)
    positions = rng.integers(0, max(1, n - 64), size=n_clicks)
    amps = (rng.pareto(3.0, size=n_clicks) * 0.02 + 0.005) * rng.choice([-1.0, 1.0], size=n_clicks)
    clicks[positions] = amps.astype(np.float32)
    kernel = np.exp(-np.arange(32) / 4.0).astype(np.float32)
    return hiss + np.convolve(clicks, kernel)[:n].astype(np.float32)


def apply_effects(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """audio: (n, 2) float32. Returns (audio (n, channels) in [-1, 1], human-readable effect list)."""
    chain: list[pedalboard.Plugin] = []
    names: list[str] = []
    if rng.random() < 0.5:
        hz = float(rng.uniform(30, 250))
        chain.append(pedalboard.HighpassFilter(cutoff_frequency_hz=hz))
        names.append(f"highpass {hz:.0f} Hz")
    if rng.random() < 0.5:
        hz = float(rng.uniform(2500, 12000))
        chain.append(pedalboard.LowpassFilter(cutoff_frequency_hz=hz))
        names.append(f"lowpass {hz:.0f} Hz")
    if rng.random() < 0.3:
        drive = float(rng.uniform(3, 18))
        chain.append(pedalboard.Distortion(drive_db=drive))
        names.append(f"saturation {drive:.1f} dB")
    if rng.random() < 0.5:
        thr, ratio = float(rng.uniform(-30, -10)), float(rng.uniform(2, 6))
        chain.append(pedalboard.Compressor(threshold_db=thr, ratio=ratio, attack_ms=float(rng.uniform(1, 20))))
        names.append(f"compressor {thr:.0f} dB {ratio:.1f}:1")
    if rng.random() < 0.5:
        room, wet = float(rng.uniform(0.1, 0.7)), float(rng.uniform(0.05, 0.3))
        chain.append(pedalboard.Reverb(room_size=room, wet_level=wet, dry_level=1.0 - wet / 2))
        names.append(f"reverb room {room:.2f} wet {wet:.2f}")
    x = audio.T.astype(np.float32)
    peak = float(np.abs(x).max())
    if peak > 0:
        x = x * np.float32(0.5 / peak)  # normalise before saturation so drive means the same for every record
    if chain:
        x = pedalboard.Pedalboard(chain)(x, sample_rate)
    if rng.random() < 0.4:
        hiss_db, crackle = float(rng.uniform(-60, -38)), float(rng.uniform(1, 25))
        x = x + vinyl_noise(rng, x.shape[1], sample_rate, hiss_db, crackle)[None, :]
        names.append(f"vinyl hiss {hiss_db:.0f} dB crackle {crackle:.0f}/s")
    if rng.random() < 0.3:
        x = x.mean(axis=0, keepdims=True)
        names.append("mono")
    peak = float(np.abs(x).max())
    target_db = float(rng.uniform(-12, -0.5))
    if peak > 0:
        x = x * np.float32(10 ** (target_db / 20) / peak)
    names.append(f"peak {target_db:.1f} dBFS")
    return np.clip(x.T, -1.0, 1.0).astype(np.float32), names
