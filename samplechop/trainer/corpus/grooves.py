"""Drum grooves as step patterns, and the drummer who plays them: variation, ghost notes, fills, crashes, feel.

A groove is one bar per role written as a string, one character per grid step (``|`` separates beats and is
ignored): ``X`` accent, ``x`` normal, ``o`` soft, ``g`` ghost, ``.`` rest. Roles map to General MIDI drum notes;
every kit the renderer uses (GM soundfont kits, AVL, Hydrogen) is played through the same GM numbers.
The grooves are textbook patterns of each style (rock backbeat, four-on-the-floor, one-drop, train beat, jazz ride,
shuffle, boom-bap, breakbeats), written for this project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from samplechop.trainer.corpus.arrangement import Arrangement, Bar

ROLE_PITCH = {
    "K": 36,  # kick
    "S": 38,  # snare
    "R": 37,  # side stick / rim click
    "C": 39,  # hand clap
    "H": 42,  # closed hi-hat
    "P": 44,  # pedal hi-hat
    "O": 46,  # open hi-hat
    "D": 51,  # ride
    "B": 53,  # ride bell
    "Y": 49,  # crash
    "Z": 57,  # crash 2
    "N": 52,  # china
    "T": 50,  # high tom
    "M": 47,  # mid tom
    "L": 43,  # floor tom
    "W": 56,  # cowbell
    "A": 54,  # tambourine
    "E": 70,  # shaker (maracas)
}
VELOCITY = {"X": 118, "x": 96, "o": 72, "g": 38}
HAT_ROLES = ("H", "D", "P", "O", "B", "E", "A")

# meter -> (beats per bar, beat length in quarter notes)
METERS: dict[str, tuple[int, float]] = {
    "4/4": (4, 1.0),
    "3/4": (3, 1.0),
    "2/4": (2, 1.0),
    "2/2": (2, 2.0),
    "6/8": (2, 1.5),
    "9/8": (3, 1.5),
    "12/8": (4, 1.5),
    "3/8": (1, 1.5),
}


@dataclass(frozen=True)
class Groove:
    meter: str
    sub: int  # grid steps per beat: 4 = sixteenths (simple meters), 3 = triplets / compound eighths
    parts: dict[str, str]

    def steps(self) -> int:
        return METERS[self.meter][0] * self.sub

    def hits(self) -> dict[str, list[tuple[int, int]]]:
        out: dict[str, list[tuple[int, int]]] = {}
        for role, pattern in self.parts.items():
            cells = pattern.replace("|", "").replace(" ", "")
            if len(cells) != self.steps():
                raise ValueError(f"groove pattern {pattern!r} has {len(cells)} steps, expected {self.steps()}")
            out[role] = [(i, VELOCITY[c]) for i, c in enumerate(cells) if c != "."]
        return out


def _g(meter: str, sub: int, **parts: str) -> Groove:
    return Groove(meter, sub, parts)


GROOVES: dict[str, tuple[Groove, ...]] = {
    "rock": (
        _g("4/4", 4, K="X...|....|x...|....", S="....|X...|....|X...", H="x.o.|x.o.|x.o.|x.o."),
        _g("4/4", 4, K="X...|....|X.x.|....", S="....|X...|....|X...", H="x.o.|x.o.|x.o.|x.o."),
        _g("4/4", 4, K="X...|..x.|X...|....", S="....|X...|....|X...", H="x...|x...|x...|x..."),
        _g("4/4", 4, K="X..x|....|x.x.|....", S="....|X...|....|X...", D="x.o.|x.o.|x.o.|x.o."),
        _g("4/4", 4, K="X...|....|X...|..x.", S="....|X...|....|X...", H="xoxo|xoxo|xoxo|xoxo"),
    ),
    "punk": (
        _g("4/4", 4, K="X...|..x.|X...|..x.", S="....|X...|....|X...", H="x.x.|x.x.|x.x.|x.x."),
        _g("4/4", 4, K="X...|x...|x...|x...", S="..X.|..X.|..X.|..X.", D="x...|x...|x...|x..."),
    ),
    "metal": (
        _g("4/4", 4, K="xxxx|xxxx|xxxx|xxxx", S="....|X...|....|X...", D="x...|x...|x...|x..."),
        _g("4/4", 4, K="x.xx|x.xx|x.xx|x.xx", S="....|X...|....|X...", H="x.x.|x.x.|x.x.|x.x."),
        _g("4/4", 4, K="X.x.|x.x.|x.x.|x.x.", S="....|X...|....|X...", N="x...|x...|x...|x..."),
        _g("4/4", 4, K="X...|x...|x...|x...", S="..X.|..X.|..X.|..X.", H="x.x.|x.x.|x.x.|x.x."),
        _g("4/4", 4, K="X..x|x...|..xx|x...", S="....|....|X...|....", D="x...|x...|x...|x..."),
    ),
    "pop": (
        _g("4/4", 4, K="X...|....|X.x.|....", S="....|X...|....|X...", H="x.o.|x.o.|x.o.|x.o."),
        _g(
            "4/4", 4, K="X...|...x|X...|....", C="....|X...|....|X...", S="....|x...|....|x...", H="xoxo|xoxo|xoxo|xoxo"
        ),
        _g(
            "4/4", 4, K="X..x|..x.|X...|....", S="....|X...|....|X...", H="x.x.|x.x.|x.x.|x.x.", E="xoxo|xoxo|xoxo|xoxo"
        ),
    ),
    "disco": (
        _g(
            "4/4", 4, K="X...|X...|X...|X...", S="....|X...|....|X...", H="x...|x...|x...|x...", O="..x.|..x.|..x.|..x."
        ),
        _g(
            "4/4", 4, K="X...|X...|X...|X...", C="....|X...|....|X...", H="xox.|xox.|xox.|xox.", O="...x|...x|...x|...x"
        ),
        _g(
            "4/4", 4, K="X...|X...|X...|X...", S="....|X..g|....|X...", H="xoxo|xoxo|xoxo|xoxo", A="....|x...|....|x..."
        ),
    ),
    "house": (
        _g("4/4", 4, K="X...|X...|X...|X...", C="....|X...|....|X...", O="..x.|..x.|..x.|..x."),
        _g(
            "4/4", 4, K="X...|X...|X...|X...", C="....|X...|....|X...", H="xoxo|xoxo|xoxo|xoxo", O="..x.|..x.|..x.|..x."
        ),
    ),
    "funk": (
        _g("4/4", 4, K="X..x|..x.|..X.|.x..", S="....|X..g|.g..|X..g", H="xoxo|xoxo|xoxo|xoxo"),
        _g("4/4", 4, K="X.x.|...x|..x.|....", S="....|X.g.|.g.g|X...", H="xoxo|xoxo|xoxo|xoxX"),
        _g("4/4", 4, K="X...|..x.|.x..|..x.", S="..g.|X..g|..g.|X.g.", H="x.x.|x.x.|x.x.|x.x."),
    ),
    "soul": (
        _g(
            "4/4", 4, K="X...|..x.|X...|....", S="....|X...|....|X...", H="x.o.|x.o.|x.o.|x.o.", A="....|x...|....|x..."
        ),
        _g("4/4", 4, K="X...|....|X.x.|....", S="....|X...|....|X...", H="x.x.|x.x.|x.x.|x.x."),
        _g("4/4", 4, K="X..x|....|x...|..x.", R="....|x...|....|x...", H="x.o.|x.o.|x.o.|x.o."),
    ),
    "boombap": (
        _g("4/4", 4, K="X...|...x|..x.|....", S="....|X...|....|X...", H="x.x.|x.x.|x.x.|x.x."),
        _g("4/4", 4, K="X..x|....|..X.|.x..", S="....|X...|....|X...", H="x.o.|x.o.|x.o.|x.oX"),
        _g("4/4", 4, K="X.x.|....|.xx.|....", S="....|X...|....|X..g", H="xoxo|xoxo|xoxo|xoxo"),
        _g("4/4", 4, K="X...|.x..|..x.|..x.", S="....|X...|....|X...", H="x...|x...|x...|x..."),
    ),
    "halftime": (
        _g("4/4", 4, K="X...|...x|..x.|.x..", S="....|....|X...|....", H="xxxx|xoxo|xxxx|xoxo"),
        _g("4/4", 4, K="X...|....|..x.|x...", C="....|....|X...|....", H="x.x.|x.x.|x.x.|x.x."),
        _g("4/4", 4, K="X..x|....|..x.|....", S="....|....|X...|....", D="x.x.|x.x.|x.x.|x.x."),
    ),
    "reggae": (
        _g("4/4", 4, K="....|....|X...|....", R="....|....|X...|....", H="x.o.|x.o.|x.o.|x.o."),
        _g("4/4", 4, K="X...|X...|X...|X...", R="....|....|X...|....", H="xoxo|xoxo|xoxo|xoxo"),
        _g("4/4", 4, K="....|....|X...|....", S="....|....|X...|....", H="..x.|..x.|..x.|..x."),
    ),
    "country": (
        _g("4/4", 4, K="X...|....|X...|....", S="xgxg|Xgxg|xgxg|Xgxg"),
        _g("4/4", 4, K="X...|....|X...|....", R="....|x...|....|x...", H="..x.|..x.|..x.|..x."),
        _g(
            "4/4", 4, K="X...|..x.|X...|....", S="....|X...|....|X...", H="x.x.|x.x.|x.x.|x.x.", A="xoxo|xoxo|xoxo|xoxo"
        ),
    ),
    "bossa": (_g("4/4", 4, K="X..x|X..x|X..x|X..x", R="x..x|..x.|..x.|x...", H="x.x.|x.x.|x.x.|x.x."),),
    "dnb": (
        _g("4/4", 4, K="X...|....|..X.|....", S="....|X...|....|X...", H="x.x.|x.x.|x.x.|x.x."),
        _g("4/4", 4, K="X.x.|....|..xx|....", S="....|X..g|.g.X|..g.", D="x.x.|x.x.|x.x.|x.x."),
    ),
    "break": (
        _g("4/4", 4, K="X.x.|....|..x.|.x..", S="....|X..g|.g.x|..g.", H="xoxo|xoxo|xoxo|xoxo"),
        _g("4/4", 4, K="X.x.|....|..xx|....", S="....|X..g|.g.X|..g.", D="x.x.|x.x.|x.x.|x.x."),
        _g("4/4", 4, K="X...|..x.|..x.|....", S="....|X...|.g..|X..g", H="x.x.|x.x.|x.x.|x.xX"),
        _g("4/4", 4, K="X..x|..x.|x...|..x.", S="..g.|X...|..g.|X.g.", H="xoxo|xoxo|xoxo|xoxo"),
    ),
    # Triplet grids: 4/4 swing and shuffle (three steps a beat).
    "jazz": (
        _g("4/4", 3, D="x..|x.x|x..|x.x", P="...|x..|...|x..", K="g..|g..|g..|g.."),
        _g("4/4", 3, D="x..|x.o|x..|x.o", P="...|x..|...|x..", S="...|..g|...|g.."),
    ),
    "shuffle": (
        _g("4/4", 3, K="X..|...|X..|...", S="...|X..|...|X..", H="x.x|x.x|x.x|x.x"),
        _g("4/4", 3, K="X..|x..|X..|x..", S="...|X..|...|X..", D="x.x|x.x|x.x|x.x"),
        _g("4/4", 3, K="X..|..x|X..|...", S="...|X.g|...|X..", H="x.o|x.o|x.o|x.o"),
    ),
    "waltz": (
        _g("3/4", 4, K="X...|....|....", S="....|x...|x...", H="x.o.|x.o.|x.o."),
        _g("3/4", 4, K="X...|....|..x.", R="....|x...|x...", D="x...|x...|x..."),
    ),
    "jazzwaltz": (_g("3/4", 3, D="x..|x.x|x.x", P="...|x..|...", K="g..|...|..."),),
    "sixeight": (
        _g("6/8", 3, K="X..|...", S="...|X..", H="xox|xox"),
        _g("6/8", 3, K="X.x|...", S="...|X..", D="xoo|xoo"),
        _g("6/8", 3, K="X..|..x", R="...|x..", H="x.x|x.x"),
    ),
    "twelveeight": (
        _g("12/8", 3, K="X..|...|X..|...", S="...|X..|...|X..", H="xox|xox|xox|xox"),
        _g("12/8", 3, K="X..|..x|X..|...", S="...|X..|...|X..", D="xoo|xoo|xoo|xoo"),
    ),
}

TOMS = ("T", "M", "L")


@dataclass(frozen=True)
class Drummer:
    """One player's habits for a record: how loose, how busy, where the hands sit against the beat."""

    swing16: float  # 0 = straight, 1 = triplet feel on the odd sixteenths
    swing8: float  # the same on the off-beat eighths
    ghost_prob: float
    kick_var_prob: float
    open_hat_prob: float
    dynamics: float  # overall velocity scale
    jitter_s: dict[str, float]  # timing spread per role
    offset_s: dict[str, float]  # mean placement per role: + laid back, − pushed
    fill_prob: float
    crash_prob: float
    double_kick: bool  # metal: sixteenth kicks in fills and choruses


def step_time(bar: Bar, step: int, sub: int, swing16: float, swing8: float) -> float:
    beat, within = divmod(step, sub)
    frac = within / sub
    if sub == 4:
        # Swing delays the off-beat subdivisions towards the triplet positions, as a drummer would.
        if within in (1, 3):
            frac += swing16 * (1 / 3 - 1 / 4)
        if within == 2:
            frac += swing8 * (2 / 3 - 1 / 2)
        elif within == 3:
            frac += swing8 * (5 / 6 - 3 / 4)
    return bar.start + (beat + frac) * bar.beat_length


@dataclass(frozen=True)
class DrumBar:
    """What the drummer does in one bar."""

    groove: Groove
    energy: float  # velocity scale of the section (verse < chorus)
    cymbal: str  # which role keeps time: the groove's own, or "D"/"O"/"P" substituted for the hi-hat
    fill_beats: float  # 0 = no fill; else the last N beats are a fill into the next downbeat
    crash: bool
    stop: bool  # stop-time: only the downbeat is played


def play_bar(arr: Arrangement, track: int, rng: np.random.Generator, bar: Bar, spec: DrumBar, who: Drummer) -> None:
    groove = spec.groove
    sub = groove.sub
    n_beats = METERS[groove.meter][0]
    steps = n_beats * sub
    # Cut beats the (partial) bar does not have: an opening bar can start on a later beat.
    first_step = (bar.first_beat - 1) * sub
    fill_from = steps - round(spec.fill_beats * sub) if spec.fill_beats else steps

    def hit(step: int, role: str, velocity: float) -> None:
        t = step_time(bar, step, sub, who.swing16, who.swing8)
        # Downbeat kicks and crashes are the anchor the band plays to: a couple of ms at most.
        spread = who.jitter_s.get(role, 0.004)
        shift = who.offset_s.get(role, 0.0) + float(rng.normal(0.0, spread))
        if step == 0 and role in ("K", "Y"):
            shift = float(np.clip(rng.normal(0.0, 0.002), -0.004, 0.004))
        vel = velocity * who.dynamics * spec.energy + rng.normal(0.0, 5.0)
        arr.add(track, t, 0.25 * bar.beat_length, ROLE_PITCH[role], int(np.clip(vel, 8, 127)), shift)

    if spec.stop:
        if first_step == 0:
            hit(0, "K", VELOCITY["X"])
            hit(0, "Y", VELOCITY["X"])
        return
    hits = groove.hits()
    snare_steps = {s for role in ("S", "C", "R") for s, _ in hits.get(role, [])}
    kick_steps = dict(hits.get("K", []))
    if rng.random() < who.kick_var_prob:
        # A bar's variation: one extra or one dropped kick off the downbeat, as drummers vary a pattern.
        options = [s for s in range(1, steps) if s not in snare_steps and s % (sub // 2 or 1) == 0]
        step = int(rng.choice(options)) if options else 0
        if step in kick_steps and step != 0:
            del kick_steps[step]
        elif step:
            kick_steps[step] = VELOCITY["x"]
    for role, pattern_hits in hits.items():
        if role == "K":
            pattern_hits = sorted(kick_steps.items())
        for step, vel in pattern_hits:
            if step < first_step or step >= fill_from:
                continue
            play_role = role
            if role == "H" and spec.cymbal != "H":
                play_role = spec.cymbal
            if step == 0 and spec.crash and role in HAT_ROLES:
                continue  # the crash replaces the time-keeper on the downbeat
            if play_role in ("H",) and step == steps - sub // 2 and rng.random() < who.open_hat_prob:
                play_role = "O"
            hit(step, play_role, vel)
    if spec.crash and first_step == 0:
        hit(0, "Y", VELOCITY["X"])
        if 0 not in kick_steps:
            hit(0, "K", VELOCITY["x"])
    # Ghost notes on the snare between the backbeats.
    for step in range(max(first_step, 1), min(steps, fill_from)):
        if step not in snare_steps and step % sub != 0 and rng.random() < who.ghost_prob:
            hit(step, "S", VELOCITY["g"] * float(rng.uniform(0.6, 1.2)))
    if fill_from < steps:
        _fill(rng, groove, fill_from, steps, who, hit)


def _fill(
    rng: np.random.Generator,
    groove: Groove,
    fill_from: int,
    steps: int,
    who: Drummer,
    hit: Callable[[int, str, float], None],
) -> None:
    sub = groove.sub
    rate = sub if rng.random() < 0.6 else max(1, sub // 2)  # sixteenths (or triplets) or eighths
    stride = max(1, sub // rate)
    run = list(range(fill_from, steps, stride))
    voices = ["S"] * int(rng.integers(1, 3)) + list(TOMS[: int(rng.integers(1, 4))])
    for i, step in enumerate(run):
        if rng.random() < 0.12 and i < len(run) - 1:
            continue  # a drummer leaves gaps
        voice = voices[min(len(voices) - 1, i * len(voices) // len(run))]
        vel = VELOCITY["o"] + (VELOCITY["X"] - VELOCITY["o"]) * i / max(1, len(run) - 1)
        hit(step, voice, vel)
        if who.double_kick and rng.random() < 0.7:
            hit(step, "K", vel)
    if rng.random() < 0.3:
        hit(steps - sub, "K", VELOCITY["x"])


def random_drummer(
    rng: np.random.Generator, swing16: float, swing8: float, feel_s: dict[str, float], tight: float
) -> Drummer:
    """``tight``: 0.5 (programmed, quantised) … 1.5 (loose live player); scales jitter."""
    jitter = {"K": 0.003, "S": 0.005, "C": 0.003, "R": 0.005, "H": 0.006, "D": 0.007, "O": 0.006, "P": 0.008}
    return Drummer(
        swing16=swing16,
        swing8=swing8,
        ghost_prob=float(rng.uniform(0.0, 0.25)),
        kick_var_prob=float(rng.uniform(0.0, 0.35)),
        open_hat_prob=float(rng.uniform(0.0, 0.4)),
        dynamics=float(rng.uniform(0.8, 1.05)),
        jitter_s={k: v * tight for k, v in jitter.items()},
        offset_s=dict(feel_s),
        fill_prob=float(rng.uniform(0.4, 0.9)),
        crash_prob=float(rng.uniform(0.4, 0.9)),
        double_kick=False,
    )
