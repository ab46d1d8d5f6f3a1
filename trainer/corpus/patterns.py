"""Generated soul/funk/jazz/boom-bap material: bar grids, drum patterns, chord progressions and basslines.

Everything is placed in quarter notes on an ``Arrangement``; the caller maps to seconds. Chord changes are only
ever placed on a beat and every chord start carries a note-on, so each labelled change is audible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.corpus.arrangement import Arrangement, Bar

KICK, SIDE_STICK, SNARE, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 37, 38, 39, 42, 44, 46, 49, 51
TOMS = (50, 48, 47, 45, 43, 41)

# meter -> (beats per bar, beat length in quarter notes, grid steps per beat)
METERS = {
    "4/4": (4, 1.0, 4),
    "3/4": (3, 1.0, 4),
    "6/8": (2, 1.5, 3),
    # Meters below only occur in music21 excerpts that get a drum part.
    "2/4": (2, 1.0, 4),
    "2/2": (2, 2.0, 4),
    "3/8": (1, 1.5, 3),
    "9/8": (3, 1.5, 3),
    "12/8": (4, 1.5, 3),
}

CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj7": (0, 4, 7, 11),
    "maj9": (0, 4, 7, 11, 14),
    "m7": (0, 3, 7, 10),
    "m9": (0, 3, 7, 10, 14),
    "m11": (0, 3, 7, 10, 14, 17),
    "7": (0, 4, 7, 10),
    "9": (0, 4, 7, 10, 14),
    "6/9": (0, 4, 7, 9, 14),
}

# Scale-degree offsets from the key root with chord quality; one entry per harmonic slot.
PROGRESSIONS: dict[str, tuple[tuple[int, str], ...]] = {
    "ii-V-I": ((2, "m9"), (7, "9"), (0, "maj9"), (0, "maj9")),
    "I-vi-IV-V": ((0, "maj7"), (9, "m7"), (5, "maj7"), (7, "7")),
    "minor-vamp": ((0, "m9"), (0, "m9"), (5, "m9"), (5, "m9")),
    "minor-soul": ((0, "m7"), (8, "maj7"), (10, "7"), (0, "m11")),
    "two-chord-funk": ((0, "m9"), (5, "9")),
    "turnaround": ((0, "maj7"), (9, "7"), (2, "m7"), (7, "9")),
    "neo-soul": ((5, "maj9"), (4, "m7"), (2, "m9"), (0, "6/9")),
}

KEYS_PROGRAMS = (0, 4, 5, 11, 16, 17, 18, 26, 48, 49, 61, 89)  # pianos, Rhodes, vibes, organs, guitar, strings, brass
BASS_PROGRAMS = (32, 33, 34, 35, 38)
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40)  # TimGM6mb bank-128 kits: Standard, Room, Power, Electronic, 808, Jazz, Brush


def make_bars(meter: str, length: float, start_beat: int) -> list[Bar]:
    """Bars covering [0, length); the first bar is cut so the record starts on beat ``start_beat + 1``."""
    n_beats, beat_len, _ = METERS[meter]
    bars: list[Bar] = []
    start = -start_beat * beat_len
    while start < length:
        beats = tuple(start + i * beat_len for i in range(n_beats) if 0.0 <= start + i * beat_len < length)
        first = round((beats[0] - start) / beat_len) + 1
        bars.append(Bar(start, beat_len, beats, first, meter))
        start += n_beats * beat_len
    return bars


@dataclass(frozen=True)
class DrumStyle:
    kit: int
    swing: float  # 0 = straight, 1 = full triplet feel on the finest hat subdivision
    hat_div: int  # hat hits per beat
    ride: bool
    ghost_prob: float
    kick_steps: frozenset[int]  # finest-grid steps within the bar that carry the kick
    open_hat_prob: float
    velocity: int
    jitter_q: float  # timing humanisation, quarter notes
    phrase_bars: int


def random_drum_style(rng: np.random.Generator, meter: str, qpm: float) -> DrumStyle:
    n_beats, _, sub = METERS[meter]
    steps = n_beats * sub
    snare_steps = set(_snare_steps(meter))
    candidates = [s for s in range(1, steps) if s not in snare_steps]
    n_extra = int(rng.integers(1, 4))
    extra = rng.choice(candidates, size=min(n_extra, len(candidates)), replace=False)
    hat_div = sub if sub == 3 else int(rng.choice([2, 4], p=[0.55, 0.45]))
    return DrumStyle(
        kit=int(rng.choice(DRUM_KITS)),
        swing=float(rng.choice([0.0, rng.uniform(0.2, 0.7)], p=[0.4, 0.6])) if sub == 4 else 0.0,
        hat_div=hat_div,
        ride=bool(rng.random() < 0.2),
        ghost_prob=float(rng.uniform(0.0, 0.35)),
        kick_steps=frozenset({0, *(int(s) for s in extra)}),
        open_hat_prob=float(rng.uniform(0.0, 0.5)),
        velocity=int(rng.integers(85, 120)),
        jitter_q=0.003 * qpm / 60.0,
        phrase_bars=int(rng.choice([2, 4, 4, 8])),
    )


def _snare_steps(meter: str) -> list[int]:
    n_beats, _, sub = METERS[meter]
    if n_beats == 4:
        return [sub, 3 * sub]
    if n_beats == 3:
        return [2 * sub]
    return [sub] if n_beats == 2 else []


def _step_time(bar: Bar, step: int, sub: int, swing: float) -> float:
    beat, within = divmod(step, sub)
    frac = within / sub
    # Swing delays the off-beat subdivisions towards the triplet position, as a drummer would.
    if sub == 4 and within % 2 == 1:
        frac += swing * (1 / 3 - 1 / 4)
    return bar.start + (beat + frac) * bar.beat_length


def add_drum_bar(
    arr: Arrangement,
    track: int,
    rng: np.random.Generator,
    bar: Bar,
    style: DrumStyle,
    *,
    fill: bool,
    crash: bool,
) -> None:
    n_beats, _, sub = METERS[bar.meter]
    steps = n_beats * sub
    fill_from = steps - sub * int(rng.integers(1, 3)) if fill else steps
    vel = style.velocity

    def hit(step: int, pitch: int, velocity: float, exact: bool = False) -> None:
        t = _step_time(bar, step, sub, style.swing)
        if not exact:
            t += float(rng.normal(0.0, style.jitter_q))
        arr.add(track, t, 0.25 * bar.beat_length, pitch, int(velocity + rng.normal(0, 4)))

    # Downbeat hits go in unjittered: the downbeat label is the first note-on at that instant.
    if crash:
        hit(0, CRASH, vel, exact=True)
    for step in range(min(steps, fill_from)):
        if step in style.kick_steps:
            hit(step, KICK, vel, exact=step == 0)
        if step in _snare_steps(bar.meter):
            hit(step, SNARE if rng.random() > 0.1 else CLAP, vel)
        elif step % (sub // 2 or 1) == 1 and rng.random() < style.ghost_prob:
            hit(step, SNARE, rng.uniform(20, 45))
        hat_every = max(1, sub // style.hat_div) if sub != 3 else 1
        if step % hat_every == 0 and not (crash and step == 0):
            pitch = RIDE if style.ride else CLOSED_HAT
            if step == steps - hat_every and rng.random() < style.open_hat_prob:
                pitch = OPEN_HAT
            accent = 1.0 if step % sub == 0 else 0.7
            hit(step, pitch, vel * 0.6 * accent)
    for i, step in enumerate(range(fill_from, steps)):
        if rng.random() < 0.85:
            pitch = int(rng.choice([SNARE, SNARE, *TOMS[: 2 + i % 4]]))
            hit(step, pitch, vel * (0.6 + 0.4 * (step - fill_from) / max(1, steps - fill_from)))


def add_drums(arr: Arrangement, track: int, rng: np.random.Generator, style: DrumStyle, from_bar: int = 0) -> None:
    for i, bar in enumerate(arr.bars[from_bar:], start=from_bar):
        if bar.first_beat != 1:
            # A partial opening bar is a pickup: play it as a fill leading into the first downbeat.
            add_drum_bar(arr, track, rng, bar, style, fill=True, crash=False)
            continue
        phrase_pos = (i - from_bar) % style.phrase_bars
        fill = phrase_pos == style.phrase_bars - 1 and rng.random() < 0.7
        crash = phrase_pos == 0 and rng.random() < 0.5
        add_drum_bar(arr, track, rng, bar, style, fill=fill, crash=crash)


@dataclass(frozen=True)
class Chord:
    start: float
    duration: float
    root_pc: int
    quality: str


def chord_timeline(arr: Arrangement, rng: np.random.Generator, key: int, progression: str) -> list[Chord]:
    prog = PROGRESSIONS[progression]
    split = rng.random() < 0.35 and arr.bars[-1].meter == "4/4"
    chords: list[Chord] = []
    slot = 0
    for bar in arr.bars:
        if bar.first_beat != 1:
            continue
        n_beats = METERS[bar.meter][0]
        parts = [(0.0, n_beats / 2), (n_beats / 2, n_beats / 2)] if split else [(0.0, float(n_beats))]
        for offset, beats in parts:
            degree, quality = prog[slot % len(prog)]
            chords.append(
                Chord(bar.start + offset * bar.beat_length, beats * bar.beat_length, (key + degree) % 12, quality)
            )
            slot += 1
    return chords


def add_keys(arr: Arrangement, track: int, rng: np.random.Generator, chords: list[Chord]) -> None:
    style = rng.choice(["pad", "stabs", "comp"])
    vel = int(rng.integers(60, 95))
    for chord in chords:
        root = 48 + chord.root_pc
        if root > 55:
            root -= 12
        pitches = [root + iv for iv in CHORD_QUALITIES[chord.quality][1:]] + [root + 12]
        if style == "pad":
            hits = [(0.0, chord.duration)]
        elif style == "stabs":
            hits = [(0.0, 0.4)] + [(o, 0.3) for o in (1.5, 2.5) if o < chord.duration and rng.random() < 0.6]
        else:
            hits = [(0.0, 1.2)] + [(o, 0.6) for o in (1.0, 1.75, 3.0) if o < chord.duration and rng.random() < 0.5]
        for offset, dur in hits:
            # Strum/roll only after the chord start so the change's note-on stays on the beat.
            for k, p in enumerate(sorted(pitches)):
                roll = 0.0 if offset == 0.0 else k * 0.01
                arr.add(
                    track, chord.start + offset + roll, dur, p, vel - (10 if offset else 0) + int(rng.integers(-5, 6))
                )


def add_bass(arr: Arrangement, track: int, rng: np.random.Generator, chords: list[Chord], swing: float) -> None:
    busy = rng.uniform(0.2, 0.7)
    vel = int(rng.integers(85, 115))
    for chord in chords:
        root = 36 + chord.root_pc
        if root > 45:
            root -= 12
        tones = [root, root + 7, root + 12, root + CHORD_QUALITIES[chord.quality][3]]
        arr.add(track, chord.start, 0.9, root, vel)
        step = 0.5
        t = step
        while t < chord.duration - 1e-9:
            if rng.random() < busy:
                within = t % 1.0
                swung = t + (swing * (1 / 6) if abs(within - 0.5) < 1e-9 else 0.0)
                arr.add(track, chord.start + swung, 0.4, int(rng.choice(tones)), vel - int(rng.integers(5, 25)))
            t += step


def random_meter(rng: np.random.Generator) -> str:
    return str(rng.choice(["4/4", "3/4", "6/8"], p=[0.9, 0.05, 0.05]))
