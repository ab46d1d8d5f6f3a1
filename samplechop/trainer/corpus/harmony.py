"""Chord progressions and the pitched parts that play them: bass lines, comping, pads and a lead melody.

Rhythms are step templates like the drum grooves (one token per grid step, whitespace- or ``|``-separated).
Bass tokens: ``R`` root, ``5`` fifth, ``8`` octave, ``3`` third, ``7`` seventh, ``6`` sixth, ``A`` chromatic
approach to the next chord's root, ``W`` a walking tone, ``x`` a dead (muted) note, ``.`` rest/hold.
Comp tokens: ``C`` chord, ``c`` soft chord, ``D``/``U`` guitar strum down/up, ``P`` power chord, ``m`` muted chop,
``1``-``4`` arpeggio tones, ``.`` hold. A chord change always carries a note-on at its start (the template's first
hit is on step 0 of every chord), so each labelled change is audible — except where a style deliberately rests
on the one (reggae bass), which is then simply not a chop point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samplechop.trainer.corpus.arrangement import Arrangement, Bar
from samplechop.trainer.corpus.grooves import METERS, step_time

QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "5": (0, 7),
    "maj7": (0, 4, 7, 11),
    "maj9": (0, 4, 7, 11, 14),
    "add9": (0, 4, 7, 14),
    "m7": (0, 3, 7, 10),
    "m9": (0, 3, 7, 10, 14),
    "m11": (0, 3, 7, 10, 14, 17),
    "7": (0, 4, 7, 10),
    "9": (0, 4, 7, 10, 14),
    "13": (0, 4, 10, 14, 21),
    "6/9": (0, 4, 7, 9, 14),
    "m7b5": (0, 3, 6, 10),
    "sus4": (0, 5, 7),
}

# (semitones above the key root, quality) per harmonic slot.
PROGRESSIONS: dict[str, tuple[tuple[int, str], ...]] = {
    # pop / rock
    "I-V-vi-IV": ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
    "vi-IV-I-V": ((9, "min"), (5, "maj"), (0, "maj"), (7, "maj")),
    "I-IV-vi-V": ((0, "add9"), (5, "maj"), (9, "min"), (7, "sus4")),
    "I-vi-IV-V": ((0, "maj"), (9, "min"), (5, "maj"), (7, "maj")),
    "I-IV-V-IV": ((0, "maj"), (5, "maj"), (7, "maj"), (5, "maj")),
    "I-bVII-IV-I": ((0, "maj"), (10, "maj"), (5, "maj"), (0, "maj")),
    "i-bVI-bVII-i": ((0, "min"), (8, "maj"), (10, "maj"), (0, "min")),
    # metal (power chords)
    "i-bVI-bVII": ((0, "5"), (8, "5"), (10, "5"), (0, "5")),
    "i-bII": ((0, "5"), (0, "5"), (1, "5"), (0, "5")),
    "i-iv-bVI-V": ((0, "5"), (5, "5"), (8, "5"), (7, "5")),
    # blues: twelve bars, one chord a bar
    "12-bar": tuple((d, "7") for d in (0, 0, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7)),
    "12-bar-quick": tuple((d, "7") for d in (0, 5, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7)),
    # jazz
    "ii-V-I": ((2, "m7"), (7, "7"), (0, "maj7"), (0, "maj7")),
    "I-vi-ii-V": ((0, "maj7"), (9, "7"), (2, "m7"), (7, "7")),
    "iii-vi-ii-V": ((4, "m7"), (9, "7"), (2, "m7"), (7, "13")),
    "minor-ii-V-i": ((2, "m7b5"), (7, "7"), (0, "m7"), (0, "m7")),
    # soul / funk / hip-hop
    "minor-vamp": ((0, "m9"), (0, "m9"), (5, "m9"), (5, "m9")),
    "minor-soul": ((0, "m7"), (8, "maj7"), (10, "7"), (0, "m11")),
    "two-chord-funk": ((0, "9"), (5, "9")),
    "one-chord-funk": ((0, "9"),),
    "neo-soul": ((5, "maj9"), (4, "m7"), (2, "m9"), (0, "6/9")),
    "turnaround": ((0, "maj7"), (9, "7"), (2, "m7"), (7, "9")),
    # reggae / disco / country / waltz
    "I-IV": ((0, "maj"), (5, "maj")),
    "i-iv": ((0, "min"), (5, "min")),
    "disco-minor": ((0, "m7"), (5, "m7")),
    "disco-descend": ((5, "maj7"), (4, "m7"), (2, "m7"), (0, "maj7")),
    "I-IV-I-V": ((0, "maj"), (5, "maj"), (0, "maj"), (7, "7")),
    "I-V-I-I": ((0, "maj"), (7, "7"), (0, "maj"), (0, "maj")),
    "I-IV-V7-I": ((0, "maj"), (5, "maj"), (7, "7"), (0, "maj")),
}


@dataclass(frozen=True)
class Chord:
    start: float
    duration: float
    root_pc: int
    quality: str

    def tones(self) -> tuple[int, ...]:
        return QUALITIES[self.quality]


def chords_for_bars(bars: list[Bar], key: int, progression: str, per_bar: float, restart_at: set[int]) -> list[Chord]:
    """One chord per bar (``per_bar`` 1), two (2, split at mid-bar) or one per two bars (0.5).

    The progression restarts at the bar indices in ``restart_at`` (section starts), as songs do.
    """
    prog = PROGRESSIONS[progression]
    chords: list[Chord] = []
    slot = 0
    for i, bar in enumerate(bars):
        if i in restart_at:
            slot = 0
        n_beats, beat_len = METERS[bar.meter]
        full = n_beats * beat_len
        if per_bar >= 2 and n_beats % 2 == 0:
            parts = [(0.0, full / 2), (full / 2, full / 2)]
        elif per_bar <= 0.5 and slot % 2 == 1:
            # Second bar of a two-bar chord: extend the previous chord.
            prev = chords[-1]
            chords[-1] = Chord(prev.start, prev.duration + full, prev.root_pc, prev.quality)
            slot += 1
            continue
        else:
            parts = [(0.0, full)]
        for offset, dur in parts:
            index = slot // 2 if per_bar <= 0.5 else slot
            degree, quality = prog[index % len(prog)]
            chords.append(Chord(bar.start + offset, dur, (key + degree) % 12, quality))
            slot += 1
    return chords


def changes(chords: list[Chord]) -> list[float]:
    """Start times where the harmony actually changes (a repeated chord is not a change)."""
    out = []
    prev: tuple[int, str] | None = None
    for c in chords:
        if (c.root_pc, c.quality) != prev:
            out.append(c.start)
        prev = (c.root_pc, c.quality)
    return out


def _tokens(template: str) -> list[str]:
    cleaned = template.replace("|", " ")
    return cleaned.split() if " " in cleaned.strip() else list(cleaned.replace(" ", ""))


BASS_TEMPLATES: dict[str, dict[tuple[str, int], tuple[str, ...]]] = {
    # (meter, steps per beat) -> templates
    "root8": {
        ("4/4", 4): ("R.R.R.R.R.R.R.R.", "R.R.R.R.R.R.5.A.", "R.R.R.8.R.R.R.5."),
        ("3/4", 4): ("R.R.R.R.R.R.", "R.R.R.5.R.A."),
        ("6/8", 3): ("R.RR.R", "RRRRRR"),
        ("12/8", 3): ("R.RR.RR.RR.R",),
    },
    "root4": {
        ("4/4", 4): ("R...R...R...R...", "R...R...5...A...", "R.....R.R...5..."),
        ("3/4", 4): ("R...R...R...", "R...5...A..."),
        ("6/8", 3): ("R..R..", "R..5.."),
        ("12/8", 3): ("R..R..R..A..",),
    },
    "rootfifth": {
        ("4/4", 4): ("R.......5.......", "R.......5...A...", "R...5...R...5..."),
        ("3/4", 4): ("R...........", "R.......5..."),
    },
    "octave": {("4/4", 4): ("R.8.R.8.R.8.R.8.", "R.8.R.8.R.8.5.8.")},
    "funk": {("4/4", 4): ("R..R..8...R.7.5.", "R.xR..x.8..R.x5.", "R...x.R.8.7...5A", "R..8..R...R.x.5.")},
    "soul": {
        ("4/4", 4): ("R.....R.5.....A.", "R...R..5R.....8.", "R.......R..5..A."),
        ("12/8", 3): ("R....5R..8.A", "R..5..8....A"),
    },
    "reggae": {("4/4", 4): ("......R.3..5..R.", "R.......R..5.8..", "....R.R.....5.3.")},
    "sustain": {
        ("4/4", 4): ("R...............", "R.......5......."),
        ("3/4", 4): ("R...........",),
        ("3/4", 3): ("R........",),
        ("6/8", 3): ("R.....",),
        ("12/8", 3): ("R...........",),
        ("4/4", 3): ("R...........",),
    },
    "808": {("4/4", 4): ("R......R..R.....", "R.........R.....", "R.....R.........")},
    "chug": {("4/4", 4): ("RRRRRRRRRRRRRRRR", "R.RRR.RRR.RRR.RR", "R.R.R.R.R.R.R.R.")},
    "bossa": {("4/4", 4): ("R..5R..5R..5R..5",)},
    "walking": {("4/4", 3): ("W..W..W..A..",), ("3/4", 3): ("W..W..A..",)},
    "boogie": {("4/4", 3): ("R.R5.56.65.5", "R.R3.55.56.5"), ("12/8", 3): ("R.R5.56.65.5",)},
    "waltz": {("3/4", 4): ("R...........", "R.......5...", "R...5...5...")},
    "sixeight": {("6/8", 3): ("R..5..", "R.....", "R..8.5"), ("12/8", 3): ("R.....5.....", "R..5..8..5..")},
    "dnb": {("4/4", 4): ("R.........R.....", "R.......R...R...")},
    "offbeat_bass": {("4/4", 4): ("..R...R...R...R.", "..R.R.R...R...8.")},
}

COMP_TEMPLATES: dict[str, dict[tuple[str, int], tuple[str, ...]]] = {
    "pad": {},  # sustained: handled without a template
    "block4": {
        ("4/4", 4): ("C...C...C...C...", "C...c...C...c..."),
        ("3/4", 4): ("C...c...c...",),
        ("6/8", 3): ("C..c..",),
        ("12/8", 3): ("C..c..C..c..",),
    },
    "block8": {
        ("4/4", 4): ("C.c.C.c.C.c.C.c.", "C.c.c.C.c.c.C.c."),
        ("3/4", 4): ("C.c.c.c.c.c.",),
        ("6/8", 3): ("Cccccc",),
        ("12/8", 3): ("CccCccCccCcc",),
    },
    "stabs": {("4/4", 4): ("C.......C..c....", "C.....c...C.....", "C..c......c..C..")},
    "charleston": {
        ("4/4", 3): ("C....c......", "C.....C.....", "C.......c..."),
        ("3/4", 3): ("C.....c..", "C..c....."),
    },
    "strum8": {
        ("4/4", 4): ("D.D.U.U.D.U.D.U.", "D...D.U...U.D.U.", "D.D.U.D.U.D.U.D."),
        ("3/4", 4): ("D...D.U.D.U.", "D.D.U.D.U.U."),
        ("6/8", 3): ("D.UD.U", "D..D.U"),
        ("12/8", 3): ("D.UD.UD.UD.U",),
    },
    "strum16": {("4/4", 4): ("D.UD.UD.UD.UD.U.", "D.U.mUD.mUD.U.mU")},
    "skank": {("4/4", 4): ("m...C...m...C...", "....C.......C...")},
    "offbeat": {("4/4", 4): ("C.C...C...C...C.", "m.C...C...C...C.")},
    "power": {("4/4", 4): ("P.P.P.P.P.P.P.P.", "P...............", "P.......P.P.P.P.", "PPPPPPPPPPPPPPPP")},
    "chicks": {("4/4", 4): ("C.mCm.m.mCm.m.m.", "C.m.m.mCm.m.mCm.")},
    "arp8": {
        ("4/4", 4): ("1.2.3.4.3.2.3.4.", "1.3.2.4.1.3.2.4."),
        ("3/4", 4): ("1.2.3.4.3.2.",),
        ("6/8", 3): ("123432",),
        ("12/8", 3): ("123432123432",),
    },
    "arp16": {("4/4", 4): ("1234321234321234",)},
    "oompah": {("3/4", 4): ("C...c...c...",), ("4/4", 4): ("C...c...C...c...",)},
    "jazzwaltz": {("3/4", 3): ("C.....c..", "C..c.....")},
    "shufflecomp": {("4/4", 3): ("C.c.c.C.c.c.", "C.....C.....", "C..C..C..C.."), ("12/8", 3): ("C.cC.cC.cC.c",)},
    "arp68": {("6/8", 3): ("123432", "1.3.2."), ("12/8", 3): ("123432123432", "1..3..2..3..")},
}


def _pick(
    templates: dict[tuple[str, int], tuple[str, ...]], meter: str, sub: int, rng: np.random.Generator
) -> str | None:
    options = templates.get((meter, sub))
    return str(options[int(rng.integers(len(options)))]) if options else None


@dataclass(frozen=True)
class Player:
    """Feel of a pitched player: where they sit against the beat and how loosely."""

    offset_s: float
    jitter_s: float
    velocity: int
    swing16: float
    swing8: float


def _t(bar: Bar, step: int, sub: int, who: Player) -> float:
    return step_time(bar, step, sub, who.swing16, who.swing8)


def _shift(rng: np.random.Generator, who: Player, on_chord_start: bool) -> float:
    # The first note of a chord stays close to the beat (the chop point is its note-on); others follow the feel.
    if on_chord_start:
        return float(np.clip(who.offset_s + rng.normal(0.0, who.jitter_s), -0.012, 0.012))
    return who.offset_s + float(rng.normal(0.0, who.jitter_s))


def _chord_at(chords: list[Chord], q: float) -> tuple[int, Chord]:
    for i, c in enumerate(chords):
        if c.start - 1e-6 <= q < c.start + c.duration - 1e-6:
            return i, c
    return len(chords) - 1, chords[-1]


def _bass_pitch(token: str, chord: Chord, nxt: Chord, prev_pitch: int, rng: np.random.Generator) -> int:
    root = 28 + (chord.root_pc - 4) % 12  # E1 (28) .. D#2: a bass guitar's lowest octave
    tones = chord.tones()
    third = next((t for t in tones if t in (3, 4)), 4)
    seventh = next((t for t in tones if t in (10, 11)), 12)
    if token == "R":
        return root
    if token == "5":
        return root + 7
    if token == "8":
        return root + 12
    if token == "3":
        return root + third
    if token == "7":
        return root + seventh
    if token == "6":
        return root + 9
    if token == "A":
        target = 28 + (nxt.root_pc - 4) % 12
        return target + int(rng.choice([-1, 1]))
    if token == "W":
        options = [root + t for t in tones[:4]] + [root + 12, root + 2, root + 5]
        options = [p for p in options if abs(p - prev_pitch) <= 7] or options
        return int(rng.choice(options))
    return root  # "x": dead note on the root


def add_bass_bar(
    arr: Arrangement,
    track: int,
    rng: np.random.Generator,
    bar: Bar,
    chords: list[Chord],
    pattern: str,
    sub: int,
    who: Player,
    energy: float,
    stop: bool,
) -> None:
    template = _pick(BASS_TEMPLATES[pattern], bar.meter, sub, rng) or _pick(BASS_TEMPLATES["sustain"], "4/4", 4, rng)
    tokens = _tokens(template)
    steps = len(tokens)
    if steps != METERS[bar.meter][0] * sub:
        # The template is for another grid (e.g. a 4/4 template in 3/4): fall back to a root on each chord.
        tokens = ["R"] + ["."] * (METERS[bar.meter][0] * sub - 1)
        steps = len(tokens)
    first_step = (bar.first_beat - 1) * sub
    prev = 40
    for step, token in enumerate(tokens):
        if token == "." or step < first_step:
            continue
        if stop and step > 0:
            break
        q = _t(bar, step, sub, who)
        idx, chord = _chord_at(chords, bar.start + step * bar.beat_length / sub)
        nxt = chords[min(idx + 1, len(chords) - 1)]
        # A chord change always gets the root on its first step, whatever the template says.
        on_change = abs(chord.start - (bar.start + step * bar.beat_length / sub)) < 1e-6
        pitch = _bass_pitch("R" if on_change and token not in ("x",) else token, chord, nxt, prev, rng)
        length_steps = 1
        while step + length_steps < steps and tokens[step + length_steps] == ".":
            length_steps += 1
        dur = length_steps * bar.beat_length / sub * (0.3 if token == "x" else float(rng.uniform(0.6, 0.95)))
        vel = who.velocity * energy * (0.55 if token == "x" else 1.0) + rng.normal(0, 6)
        arr.add(track, q, dur, pitch, int(vel), _shift(rng, who, on_change))
        prev = pitch
    # Chord changes in mid-bar that the template skipped (e.g. the reggae rest): nothing forced.


def _voicing(chord: Chord, low: int, high: int, n: int) -> list[int]:
    """Close-ish voicing of the chord's tones within [low, high], at most n notes, root at the bottom."""
    base = low + (chord.root_pc - low) % 12
    notes = sorted({base + t for t in chord.tones()} | {base + 12})
    notes = [p for p in notes if p <= high] or [base]
    return notes[:n]


def _guitar_voicing(chord: Chord) -> list[int]:
    """Six-string-like spread: root low, then fifth, octave, third, fifth, root (open-position shapes)."""
    root = 40 + (chord.root_pc - 4) % 12  # low E string
    tones = chord.tones()
    third = next((t for t in tones if t in (3, 4)), 7)
    fifth = 7 if 7 in tones else (6 if 6 in tones else 7)
    extra = [t for t in tones if t >= 9][:1]
    return sorted(
        {
            root,
            root + fifth,
            root + 12,
            root + 12 + third,
            root + 12 + fifth,
            root + 24,
            *(root + 12 + t for t in extra),
        }
    )


def add_comp_bar(
    arr: Arrangement,
    track: int,
    rng: np.random.Generator,
    bar: Bar,
    chords: list[Chord],
    pattern: str,
    sub: int,
    who: Player,
    energy: float,
    register: tuple[int, int],
    stop: bool,
    guitar: bool,
) -> None:
    first_step = (bar.first_beat - 1) * sub
    bar_chords = [
        c for c in chords if bar.start - 1e-6 <= c.start < bar.start + bar.beat_length * METERS[bar.meter][0] - 1e-6
    ]
    if pattern == "pad" or stop:
        for c in bar_chords or [_chord_at(chords, bar.beats[0])[1]]:
            if c.start < bar.beats[0] - 1e-6 and bar_chords:
                continue
            start = max(c.start, bar.beats[0])
            dur = min(c.duration, 0.9 * bar.beat_length) if stop else c.duration
            voicing = _voicing(c, *register, n=5)
            for p in voicing:
                arr.add(
                    track, start, dur, p, int(who.velocity * energy * 0.85 + rng.normal(0, 4)), _shift(rng, who, True)
                )
        return
    template = _pick(COMP_TEMPLATES[pattern], bar.meter, sub, rng)
    if template is None:
        add_comp_bar(arr, track, rng, bar, chords, "pad", sub, who, energy, register, stop, guitar)
        return
    tokens = _tokens(template)
    steps = len(tokens)
    for step, token in enumerate(tokens):
        if token == "." or step < first_step:
            continue
        pos = bar.start + step * bar.beat_length / sub
        _, chord = _chord_at(chords, pos)
        on_change = abs(chord.start - pos) < 1e-6
        length_steps = 1
        while step + length_steps < steps and tokens[step + length_steps] == ".":
            length_steps += 1
        q = _t(bar, step, sub, who)
        dur = length_steps * bar.beat_length / sub * float(rng.uniform(0.5, 0.95))
        vel = who.velocity * energy + rng.normal(0, 5)
        shift = _shift(rng, who, on_change)
        if token in "1234":
            voicing = _voicing(chord, *register, n=4)
            p = voicing[(int(token) - 1) % len(voicing)]
            arr.add(track, q, max(dur, 0.9 * bar.beat_length / sub), p, int(vel * 0.9), shift)
            continue
        if token == "P":
            root = 40 + (chord.root_pc - 4) % 12
            for p in (root, root + 7, root + 12):
                arr.add(track, q, dur, p, int(vel), shift)
            continue
        voicing = _guitar_voicing(chord) if guitar else _voicing(chord, *register, n=5)
        if token == "m":
            voicing, dur, vel = voicing[-3:], 0.08 * bar.beat_length, vel * 0.55
        elif token == "c":
            vel *= 0.75
        order = voicing[::-1] if token == "U" else voicing
        # A strum rolls across the strings (8-25 ms); the first string sounds on the beat.
        spread_s = float(rng.uniform(0.008, 0.025)) / max(1, len(order)) if guitar and token in ("D", "U") else 0.0
        for k, p in enumerate(order):
            arr.add(track, q, dur, p, int(vel * (0.8 if token == "U" else 1.0)), shift + k * spread_s)


SCALES = {
    "major_penta": (0, 2, 4, 7, 9),
    "minor_penta": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "major": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
}


def add_lead_phrase(
    arr: Arrangement,
    track: int,
    rng: np.random.Generator,
    bars: list[Bar],
    chords: list[Chord],
    key: int,
    scale: str,
    sub: int,
    who: Player,
    energy: float,
    rhythm: list[tuple[int, int]],
    register: tuple[int, int],
) -> None:
    """One melodic phrase over ``bars``: ``rhythm`` is (step from the phrase start, length in steps); notes with a
    negative step are a pickup before the phrase's first downbeat, across the bar line."""
    if not bars:
        return
    bar0 = bars[0]
    n_beats, beat_len = METERS[bar0.meter]
    step_q = beat_len / sub
    steps_per_bar = n_beats * sub
    pool = sorted(p for p in range(register[0], register[1] + 1) if (p - key) % 12 in SCALES[scale])
    pitch = int(rng.choice(pool[len(pool) // 3 : 2 * len(pool) // 3 + 1]))
    for i, (step, length) in enumerate(rhythm):
        bar_index, within = divmod(step, steps_per_bar)
        bar = bars[min(max(bar_index, 0), len(bars) - 1)] if bar_index >= 0 else bar0
        if bar_index >= len(bars):
            break
        q = step_time(bar, within, sub, who.swing16, who.swing8) if bar_index >= 0 else bar0.start + step * step_q
        _, chord = _chord_at(chords, max(q, chords[0].start))
        strong = within % sub == 0 and (within // sub) % 2 == 0
        move = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]))
        idx = int(np.clip(np.searchsorted(pool, pitch) + move, 0, len(pool) - 1))
        pitch = pool[idx]
        if strong or i == len(rhythm) - 1:
            chord_pcs = {(chord.root_pc + t) % 12 for t in chord.tones()}
            near = [p for p in pool if p % 12 in chord_pcs] or pool
            pitch = min(near, key=lambda p: abs(p - pitch))
        vel = who.velocity * energy * (1.0 if strong else 0.85) + rng.normal(0, 6)
        arr.add(track, q, length * step_q * float(rng.uniform(0.7, 1.0)), pitch, int(vel), _shift(rng, who, False))


def phrase_rhythm(
    rng: np.random.Generator, n_bars: int, steps_per_bar: int, sub: int, density: float
) -> list[tuple[int, int]]:
    """A phrase's rhythm: notes on eighths (or the grid) with rests, a long last note, sometimes a pickup."""
    unit = max(1, sub // 2) if sub == 4 else 1  # eighths in sixteenth grids; every step in triplet grids
    total = n_bars * steps_per_bar
    end = int(total * rng.uniform(0.55, 0.85))  # the phrase breathes before the next one
    notes: list[tuple[int, int]] = []
    if rng.random() < 0.4:
        n_pick = int(rng.integers(1, 4))
        notes += [(-unit * (n_pick - k), unit) for k in range(n_pick)]
    step = 0 if rng.random() < 0.6 else unit
    while step < end:
        length = unit * int(rng.choice([1, 1, 2, 2, 3, 4]))
        if rng.random() < density:
            notes.append((step, min(length, end - step)))
        step += length
    if notes and notes[-1][0] >= 0:
        last_step, _ = notes[-1]
        notes[-1] = (last_step, max(unit, min(total - last_step, 2 * sub)))
    return notes
