"""A generated song: sections of 4/8 bars (intro, verse, chorus, break, bridge), instruments entering and leaving,
drumless passages, stops, fills and crashes at phrase ends, pickups, a drifting tempo — and the window of it that
becomes the record (from the song's start with a lead-in, or an excerpt cut anywhere, as real clips are).

Probabilities, section lengths and energies here are musical conventions checked by eye and ear on renders
(spectrograms with their beat grids); none was tuned on the evaluation set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from samplechop.trainer.corpus import harmony, tempo
from samplechop.trainer.corpus.arrangement import Arrangement, Bar, Track
from samplechop.trainer.corpus.grooves import GROOVES, METERS, DrumBar, Groove, play_bar, random_drummer, step_time
from samplechop.trainer.corpus.styles import Style

ENERGY = {"intro": 0.8, "verse": 0.85, "chorus": 1.0, "break": 0.75, "bridge": 0.9, "pickup": 0.9}


@dataclass
class BarPlan:
    bar: Bar
    section: str
    section_start: bool
    parts: frozenset[str]
    energy: float
    groove: Groove
    cymbal: str
    fill_beats: float = 0.0
    crash: bool = False
    stop: bool = False


@dataclass
class Song:
    arrangement: Arrangement
    tempo: tempo.TempoMap
    window_q: float  # song position of the record's start (sounds at tempo.lead_in_s)
    bpm: float
    beat_length: float
    style: str
    details: dict = field(default_factory=dict)


def make_bars(meter: str, n_bars: int) -> list[Bar]:
    n_beats, beat_len = METERS[meter]
    bars = []
    for i in range(n_bars):
        start = i * n_beats * beat_len
        bars.append(Bar(start, beat_len, tuple(start + k * beat_len for k in range(n_beats)), 1, meter))
    return bars


def _sections(rng: np.random.Generator, n_bars: int, lengths: tuple[int, ...]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    if rng.random() < 0.7:
        out.append(("intro", int(rng.choice([2, 4, 4, 8])) if lengths != (12,) else 4))
    names = ["verse", "chorus"]
    k = 0
    while sum(n for _, n in out) < n_bars:
        if k >= 2 and rng.random() < 0.3:
            name = str(rng.choice(["break", "bridge"]))
            out.append((name, int(rng.choice([2, 4, 4])) if name == "break" else int(rng.choice([4, 8]))))
        name = names[k % 2]
        out.append((name, int(rng.choice(lengths))))
        k += 1
    return out


def _section_parts(rng: np.random.Generator, name: str, available: set[str], drums: bool) -> frozenset[str]:
    if name == "intro":
        options = [{"drums"}, {"comp"}, {"comp", "bass"}, {"drums", "bass"}, {"drums", "bass", "comp"}, {"comp", "pad"}]
    elif name == "verse":
        options = [{"drums", "bass", "comp"}, {"drums", "bass", "comp", "lead"}]
    elif name == "chorus":
        options = [
            {"drums", "bass", "comp", "pad", "lead"},
            {"drums", "bass", "comp", "pad"},
            {"drums", "bass", "comp", "lead"},
        ]
    elif name == "break":
        options = [{"drums"}, {"comp", "bass"}, {"comp"}, {"comp", "lead"}, {"drums", "bass"}]
    else:  # bridge
        options = [{"drums", "bass", "comp", "lead"}, {"bass", "comp", "pad"}, {"drums", "comp", "pad"}]
    chosen = set(options[int(rng.integers(len(options)))])
    if not drums:
        chosen.discard("drums")
    # The singer carries verses and choruses (an instrument solos in the gaps) and sometimes a bridge or a break.
    if (name in ("verse", "chorus") and rng.random() < 0.9) or (name in ("bridge", "break") and rng.random() < 0.3):
        chosen.add("vocal")
        if rng.random() < 0.7:
            chosen.discard("lead")
    chosen &= available
    if not chosen:
        chosen = {"drums"} if drums else ({"comp"} & available or available)
    return frozenset(chosen)


def _plan(
    rng: np.random.Generator,
    bars: list[Bar],
    sections: list[tuple[str, int]],
    grooves: tuple[Groove, ...],
    available: set[str],
    drums: bool,
    fill_prob: float,
    crash_prob: float,
) -> list[BarPlan]:
    plans: list[BarPlan] = []
    i = 0
    main = int(rng.integers(len(grooves)))
    for s_index, (name, n) in enumerate(sections):
        parts = _section_parts(rng, name, available, drums)
        groove = (
            grooves[main]
            if name in ("verse", "intro") or rng.random() < 0.5
            else grooves[int(rng.integers(len(grooves)))]
        )
        cymbal = "H"
        if name == "chorus" and rng.random() < 0.35:
            cymbal = str(rng.choice(["D", "O"]))
        elif name in ("bridge", "break") and rng.random() < 0.4:
            cymbal = str(rng.choice(["D", "P"]))
        stop_bar = n - 1 if name == "verse" and rng.random() < 0.15 else -1
        for k in range(n):
            if i >= len(bars):
                return plans
            last = k == n - 1
            fill = 0.0
            if "drums" in parts and last and rng.random() < fill_prob:
                fill = float(rng.choice([1.0, 1.0, 2.0, 2.0, METERS[bars[i].meter][0]]))
            elif "drums" in parts and n >= 8 and k == n // 2 - 1 and rng.random() < 0.3:
                fill = 1.0
            prev_fill = bool(plans) and plans[-1].fill_beats > 0
            crash = "drums" in parts and k == 0 and s_index > 0 and rng.random() < (0.9 if prev_fill else crash_prob)
            plans.append(
                BarPlan(
                    bars[i],
                    name,
                    k == 0,
                    parts,
                    ENERGY[name] * float(rng.uniform(0.95, 1.05)),
                    groove,
                    cymbal,
                    min(fill, METERS[bars[i].meter][0]),
                    crash,
                    stop=k == stop_bar,
                )
            )
            i += 1
    return plans


def _pick_pattern(
    options: tuple[str, ...], templates: dict, meter: str, sub: int, rng: np.random.Generator, fallback: str
) -> str:
    usable = [o for o in options if o == "pad" or (meter, sub) in templates.get(o, {})]
    return str(rng.choice(usable)) if usable else fallback


COMPOUND_BPM = (40.0, 90.0)  # dotted-quarter beats a minute that 6/8 and 12/8 songs are felt in (120-270 eighths)


def _bpm_range(style_bpm: tuple[float, float], beat_len: float) -> tuple[float, float]:
    """A style's tempo range, narrowed to felt dotted-quarter tempos when it plays a compound-meter groove."""
    if beat_len != 1.5:
        return style_bpm
    lo, hi = max(style_bpm[0], COMPOUND_BPM[0]), min(style_bpm[1], COMPOUND_BPM[1])
    return (lo, hi) if hi - lo >= 15 else COMPOUND_BPM


def build_song(
    rng: np.random.Generator,
    style: Style,
    duration_s: float,
    *,
    drums: bool,
    band: bool,
    loop_prob: float = 0.0,
) -> Song:
    groove_key = str(rng.choice(style.grooves))
    grooves = GROOVES[groove_key]
    meter, sub = grooves[0].meter, grooves[0].sub
    n_beats, beat_len = METERS[meter]
    bpm = float(rng.uniform(*_bpm_range(style.bpm, beat_len)))
    qpm = bpm * beat_len
    machine = rng.random() < style.machine_prob
    tight = 0.35 if machine else float(rng.uniform(0.7, 1.5))
    drift_amp = 0.0 if machine else style.drift * float(rng.uniform(0.3, 1.0))
    bar_q = n_beats * beat_len

    from_start = rng.random() < 0.35
    lead_in = float(rng.uniform(0.05, 1.5)) if from_start and rng.random() < 0.6 else 0.0
    loop_bars = int(rng.choice([1, 2, 4])) if not band and rng.random() < loop_prob else 0
    # A sampled loop starts on its downbeat: no pickup.
    pickup_beats = (
        int(rng.integers(1, n_beats)) if from_start and n_beats > 1 and not loop_bars and rng.random() < 0.35 else 0
    )
    dur_q = (duration_s - lead_in) * qpm / 60.0 * (1.0 + 2 * drift_amp) + bar_q
    offset_bars = 0 if from_start else int(rng.integers(1, 9))
    n_song_bars = (1 if pickup_beats else 0) + offset_bars + math.ceil(dur_q / bar_q) + 1
    bars = make_bars(meter, n_song_bars)

    available = {"drums"} if drums else set()
    if band:
        available |= {"bass", "comp"} if drums or rng.random() < 0.6 else {"comp"}
        if rng.random() < 0.5:
            available.add("pad")
        if rng.random() < style.lead_prob:
            available.add("lead")
        if style.vocal and rng.random() < style.vocal_prob:
            available.add("vocal")
    if not band and not drums:
        raise ValueError("a song needs drums or a band")

    swing16 = float(rng.uniform(*style.swing16))
    swing8 = float(rng.uniform(*style.swing8))
    feel = {role: float(rng.uniform(lo, hi)) / 1000.0 for role, (lo, hi) in style.feel_ms.items()}
    drummer = random_drummer(rng, swing16, swing8, {k: v for k, v in feel.items() if len(k) == 1}, tight)
    if style.name == "metal":
        drummer = type(drummer)(**{**drummer.__dict__, "double_kick": True})

    first = 1 if pickup_beats else 0
    if loop_bars:
        sections = [("verse", n_song_bars)]
        drift_amp = 0.0  # a sampled loop repeats at one tempo
    else:
        sections = _sections(rng, n_song_bars - first, style.section_bars)
    plans = _plan(rng, bars[first:], sections, grooves, available, drums, drummer.fill_prob, drummer.crash_prob)
    if pickup_beats:
        pickup_parts = frozenset({"drums"} & available) or frozenset({"lead"} & available)
        pickup_plan = BarPlan(
            bars[0],
            "pickup",
            True,
            pickup_parts,
            ENERGY["pickup"],
            plans[0].groove,
            "H",
            fill_beats=float(pickup_beats),
        )
        plans.insert(0, pickup_plan)

    arr = Arrangement(tracks=[], notes=[], bars=bars, length=n_song_bars * bar_q, meter=meter)
    arr.sections = [(p.bar.start, p.section) for p in plans if p.section_start]
    details: dict = {
        "groove": groove_key,
        "swing16": round(swing16, 2),
        "swing8": round(swing8, 2),
        "machine": machine,
        "loop_bars": loop_bars,
        "pickup_beats": pickup_beats,
    }

    if "drums" in available:
        track = arr.add_track(Track("drums", 0, is_drum=True, role="drums"))
        for plan in plans:
            if "drums" not in plan.parts:
                continue
            if plan.section == "pickup":
                spec = DrumBar(plan.groove, plan.energy, "H", fill_beats=plan.fill_beats, crash=False, stop=False)
            else:
                spec = DrumBar(plan.groove, plan.energy, plan.cymbal, plan.fill_beats, plan.crash, plan.stop)
            play_bar(arr, track, rng, plan.bar, spec, drummer)
        if loop_bars:
            _tile(arr, track, loop_bars * bar_q)

    if band:
        _add_band(arr, rng, style, plans, meter, sub, available, swing16, swing8, feel, tight, details)

    window_q = bars[first].start - pickup_beats * beat_len + offset_bars * bar_q
    if not from_start:
        window_q += float(rng.uniform(0.0, bar_q))  # excerpts start anywhere, not on a beat
    span = (-bar_q, arr.length + bar_q)
    n_points = max(2, n_song_bars)
    drift = (
        tempo.random_drift(rng, n_points, drift_amp, float(rng.uniform(-1, 1)) * drift_amp)
        if drift_amp
        else np.zeros(2)
    )
    tmap = tempo.drifting(qpm, drift, span, lead_in_s=lead_in, origin_q=window_q)
    details["tempo_drift"] = round(drift_amp, 4)
    details["sections"] = [name for _, name in arr.sections]
    return Song(arr, tmap, window_q, bpm, beat_len, style.name, details)


def _tile(arr: Arrangement, track: int, period_q: float) -> None:
    """A sampled drum loop: the first ``period_q`` repeated exactly (same hits, same feel) to the end."""
    base = [n for n in arr.notes if n.track == track and n.start < period_q]
    arr.notes = [n for n in arr.notes if n.track != track]
    k = 0
    while k * period_q < arr.length:
        for n in base:
            arr.add(track, n.start + k * period_q, n.duration, n.pitch, n.velocity, n.shift_s)
        k += 1


def _add_band(
    arr: Arrangement,
    rng: np.random.Generator,
    style: Style,
    plans: list[BarPlan],
    meter: str,
    sub: int,
    available: set[str],
    swing16: float,
    swing8: float,
    feel: dict[str, float],
    tight: float,
    details: dict,
) -> None:
    key = int(rng.integers(12))
    verse_prog = str(rng.choice(style.progressions))
    chorus_prog = verse_prog if rng.random() < 0.5 else str(rng.choice(style.progressions))
    per_bar = float(rng.choice(style.per_bar))
    bars = [p.bar for p in plans]
    chords: list[harmony.Chord] = []
    # Chords section by section, each restarting its progression.
    run_start = 0
    for i in range(1, len(plans) + 1):
        if i == len(plans) or plans[i].section_start:
            prog = chorus_prog if plans[run_start].section == "chorus" else verse_prog
            chords += harmony.chords_for_bars(bars[run_start:i], key, prog, per_bar, {0})
            run_start = i
    arr.chord_changes.extend(harmony.changes(chords))
    details.update(
        {"key": key, "progression": verse_prog, "chorus_progression": chorus_prog, "chords_per_bar": per_bar}
    )

    def player(role: str, velocity: int, jitter_s: float) -> harmony.Player:
        return harmony.Player(feel.get(role, 0.0), jitter_s * tight, velocity, swing16, swing8)

    bass_pattern = _pick_pattern(style.bass, harmony.BASS_TEMPLATES, meter, sub, rng, "sustain")
    comp_pattern = _pick_pattern(style.comp, harmony.COMP_TEMPLATES, meter, sub, rng, "pad")
    details.update({"bass_pattern": bass_pattern, "comp_pattern": comp_pattern})
    if "bass" in available:
        track = arr.add_track(Track("bass", int(rng.choice(style.bass_programs)), role="bass"))
        who = player("bass", int(rng.integers(88, 112)), 0.005)
        for plan in plans:
            if "bass" in plan.parts:
                harmony.add_bass_bar(arr, track, rng, plan.bar, chords, bass_pattern, sub, who, plan.energy, plan.stop)
    if "comp" in available:
        program = int(rng.choice(style.comp_programs))
        guitar = style.guitar_comp and 24 <= program <= 31
        dirty = guitar and rng.random() < style.distortion
        track = arr.add_track(
            Track("comp", program, role="guitar" if guitar else "keys", fx="distortion" if dirty else "")
        )
        who = player("comp", int(rng.integers(62, 96)), 0.006)
        register = (48, 74) if not guitar else (40, 76)
        for plan in plans:
            if "comp" in plan.parts:
                harmony.add_comp_bar(
                    arr, track, rng, plan.bar, chords, comp_pattern, sub, who, plan.energy, register, plan.stop, guitar
                )
    if "pad" in available:
        track = arr.add_track(Track("pad", int(rng.choice(style.pad_programs)), role="pad"))
        who = player("pad", int(rng.integers(50, 76)), 0.004)
        for plan in plans:
            if "pad" in plan.parts:
                harmony.add_comp_bar(
                    arr, track, rng, plan.bar, chords, "pad", sub, who, plan.energy, (55, 79), plan.stop, False
                )
    if "lead" in available:
        program = int(rng.choice(style.lead_programs))
        track = arr.add_track(
            Track("lead", program, role="lead", fx="distortion" if program in (29, 30) and rng.random() < 0.4 else "")
        )
        who = player("lead", int(rng.integers(80, 112)), 0.012)
        minor = chords and chords[0].quality in ("min", "m7", "m9", "m11", "5", "m7b5")
        scale = style.scale_minor if minor else style.scale_major
        n_beats, _ = METERS[meter]
        density = float(rng.uniform(0.45, 0.85))
        register = (60, 84) if program not in (32, 33, 42, 57, 58, 66, 67) else (50, 74)
        i = 0
        rhythm = harmony.phrase_rhythm(rng, 2, n_beats * sub, sub, density)
        while i < len(plans):
            plan = plans[i]
            if "lead" in plan.parts and plan.section != "pickup":
                phrase = [p.bar for p in plans[i : i + 2]]
                if plan.section_start and rng.random() < 0.5:
                    rhythm = harmony.phrase_rhythm(rng, 2, n_beats * sub, sub, density)  # a new motif
                harmony.add_lead_phrase(
                    arr, track, rng, phrase, chords, key, scale, sub, who, plan.energy, rhythm, register
                )
                i += 2
            else:
                i += 1
    if "vocal" in available:
        _add_vocal(arr, rng, style, plans, meter, sub, chords, key, swing16, swing8, tight, details)
    details["feel_ms"] = {k: round(v * 1000, 1) for k, v in feel.items()}


def _add_vocal(
    arr: Arrangement,
    rng: np.random.Generator,
    style: Style,
    plans: list[BarPlan],
    meter: str,
    sub: int,
    chords: list[harmony.Chord],
    key: int,
    swing16: float,
    swing8: float,
    tight: float,
    details: dict,
) -> None:
    """A sung line (phrases of two bars with pickups, legato, behind the beat) or rap (sixteenth syllables)."""
    female = rng.random() < 0.5
    rap = style.vocal == "rap"
    track = arr.add_track(Track("vocal", 0, role="vocal", fx=("rap" if rap else "sung") + ("-f" if female else "-m")))
    behind_s = float(rng.uniform(-0.005, 0.025))  # singers sit on or behind the beat
    who = harmony.Player(behind_s, 0.012 * tight, int(rng.integers(85, 115)), swing16, swing8)
    n_beats, _ = METERS[meter]
    steps = n_beats * sub
    details["vocal"] = arr.tracks[track].fx
    if rap:
        base = float(rng.uniform(50, 57) if female else rng.uniform(43, 50))
        density = float(rng.uniform(0.5, 0.85))
        for i, plan in enumerate(plans):
            if "vocal" not in plan.parts or plan.section == "pickup":
                continue
            bar = plan.bar
            # Breathe at the end of every other bar; the phrase's pitch falls towards its end.
            last = steps - int(rng.integers(1, sub + 1)) if i % 2 == 1 else steps
            for step in range(steps):
                if step >= last or rng.random() > density:
                    continue
                q = step_time(bar, step, sub, swing16, swing8)
                pitch = base + float(rng.normal(0, 1.2)) - 2.0 * (i % 2) - step / steps
                strong = step % sub == 0
                vel = who.velocity * (1.0 if strong else 0.8) + rng.normal(0, 6)
                shift = behind_s + float(rng.normal(0, 0.01 * tight))
                arr.add(track, q, bar.beat_length / sub * float(rng.uniform(0.6, 0.95)), round(pitch), int(vel), shift)
        return
    register = (57, 76) if female else (48, 67)
    scale = style.scale_minor if chords and chords[0].quality in ("min", "m7", "m9", "m11", "5") else style.scale_major
    density = float(rng.uniform(0.55, 0.9))
    rhythm = harmony.phrase_rhythm(rng, 2, steps, sub, density)
    i = 0
    while i < len(plans):
        plan = plans[i]
        if "vocal" in plan.parts and plan.section != "pickup":
            if plan.section_start and rng.random() < 0.5:
                rhythm = harmony.phrase_rhythm(rng, 2, steps, sub, density)
            phrase = [p.bar for p in plans[i : i + 2]]
            harmony.add_lead_phrase(
                arr, track, rng, phrase, chords, key, scale, sub, who, plan.energy, rhythm, register
            )
            i += 2
        else:
            i += 1
