"""Short synthetic records whose right answers are known: drum-like hits on a beat grid and chord changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44_100


@dataclass(frozen=True)
class SynthRecord:
    audio: np.ndarray  # (samples, channels) float32
    sample_rate: int
    beats_s: np.ndarray
    downbeats_s: np.ndarray


def _hit(rate: int, rng: np.random.Generator, *, low: bool) -> np.ndarray:
    length = int(0.12 * rate)
    t = np.arange(length) / rate
    if low:  # a kick: a falling sine
        tone = np.sin(2 * np.pi * (110 * np.exp(-t * 25) + 45) * t)
    else:  # a snare/hat: noise
        tone = rng.standard_normal(length)
    return (tone * np.exp(-t * 35)).astype(np.float32)


def _chord(rate: int, seconds: float, root_hz: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * root_hz * ratio * t) for ratio in (1.0, 1.26, 1.5, 2.0))
    envelope = np.minimum(1.0, t / 0.005) * np.exp(-t * 1.5)
    return (0.12 * tone * envelope).astype(np.float32)


def beat_record(
    seconds: float = 8.0,
    bpm: float = 96.0,
    *,
    channels: int = 2,
    rate: int = RATE,
    chords: bool = True,
    lead_in_s: float = 0.3,
    seed: int = 0,
) -> SynthRecord:
    """Kicks on beats 1 and 3, snares on 2 and 4, and a new chord on every downbeat (4/4)."""
    rng = np.random.default_rng(seed)
    total = int(seconds * rate)
    mono = np.zeros(total + rate, dtype=np.float32)
    beat_s = 60.0 / bpm
    beats = np.arange(lead_in_s, seconds - 0.2, beat_s)
    roots = [110.0, 146.8, 130.8, 98.0]
    for number, time_s in enumerate(beats):
        start = int(time_s * rate)
        hit = _hit(rate, rng, low=number % 2 == 0)
        mono[start : start + hit.size] += 0.6 * hit
        if chords and number % 4 == 0:
            chord = _chord(rate, 4 * beat_s, roots[(number // 4) % len(roots)])
            mono[start : start + chord.size] += chord[: mono.size - start]
    mono = mono[:total]
    stereo = np.stack([mono * (1.0 - 0.1 * c) for c in range(channels)], axis=1)
    return SynthRecord(stereo.astype(np.float32), rate, beats, beats[::4])


def write_record(record: SynthRecord, path: Path, subtype: str | None = None) -> Path:
    sf.write(path, record.audio, record.sample_rate, subtype=subtype)
    return path


def write_corpus(directory: Path, count: int, seconds: float = 8.0) -> list[Path]:
    """A tiny labelled corpus for pipeline tests: NAME.wav, NAME.txt (chop = downbeat times, one per line) and
    NAME.beats (``time<TAB>position``, 4/4), the corpus renderer's format."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        record = beat_record(seconds, bpm=80.0 + 7.0 * index, lead_in_s=0.2 + 0.05 * index, seed=index, channels=1)
        wav = write_record(record, directory / f"synth_{index:02d}.wav")
        wav.with_suffix(".txt").write_text("".join(f"{t:.4f}\n" for t in record.downbeats_s))
        wav.with_suffix(".beats").write_text(
            "".join(f"{t:.4f}\t{number % 4 + 1}\n" for number, t in enumerate(record.beats_s))
        )
        paths.append(wav)
    return paths
