"""Excerpts of human-written, public-domain music from the corpus bundled in the music21 wheel.

Only collections whose compositions are public domain and whose encodings carry no stated commercial-use restriction
are listed; see samplechop/trainer/CORPUS.md for what was excluded and why (e.g. essenFolksong is licensed
non-commercial only).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samplechop.trainer.corpus.arrangement import Arrangement, Bar, NoteEvent, Track
from samplechop.trainer.corpus.grooves import METERS


@dataclass(frozen=True)
class Collection:
    folder: str
    pattern: str
    weight: float
    licence: str


COLLECTIONS: tuple[Collection, ...] = (
    Collection(
        "bach",
        "bwv*.mxl",
        0.4,
        "Public domain composition (J.S. Bach, d. 1750); MusicXML encoding bundled with music21 (BSD-3 package), "
        "no restriction stated in file or directory",
    ),
    Collection(
        "ryansMammoth",
        "*.abc",
        0.55,
        "Public domain (Ryan's Mammoth Collection, Boston 1883); ABC transcription contributed to music21, "
        "no restriction stated",
    ),
    Collection(
        "leadSheet",
        "fosterBrownHair.mxl",
        0.05,
        "Public domain (Stephen Foster, 1854); file's <rights> element reads 'Public Domain'",
    ),
)

MELODY_PROGRAMS = (0, 4, 11, 21, 22, 24, 25, 40, 56, 65, 66, 71, 73, 110)
ENSEMBLE_PROGRAMS = (0, 4, 6, 19, 48, 49, 52, 61, 68, 71, 11)


def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def list_sources() -> dict[str, list[Path]]:
    root = corpus_root()
    return {c.folder: sorted((root / c.folder).glob(c.pattern)) for c in COLLECTIONS}


@dataclass
class Excerpt:
    arrangement: Arrangement
    source: str
    licence: str
    beat_length: float


def _parse(path: Path):  # music21 objects are untyped
    import music21

    return music21.converter.parse(str(path), forceSource=True)


def _meter_of(ts) -> tuple[str, int, float]:
    return ts.ratioString, int(ts.beatCount), float(ts.beatDuration.quarterLength)


def _extract(score) -> tuple[list[tuple[float, float, int, int]], list[Bar], list[float], float, str]:
    """Notes (start, dur, pitch, part), bars, phrase starts (after fermatas), total length, meter."""
    from music21 import expressions, harmony

    score = score.stripTies()
    parts = list(score.parts)
    notes: list[tuple[float, float, int, int]] = []
    phrase_starts: list[float] = []
    for pi, part in enumerate(parts):
        for n in part.recurse().notes:
            if isinstance(n, harmony.ChordSymbol) or n.duration.quarterLength <= 0:
                continue
            start = float(n.getOffsetInHierarchy(score))
            dur = float(n.duration.quarterLength)
            for p in n.pitches:
                notes.append((start, dur, int(p.midi), pi))
            if pi == 0 and any(isinstance(e, expressions.Fermata) for e in n.expressions):
                phrase_starts.append(start + dur)
    bars: list[Bar] = []
    meter = ""
    ts = None
    for m in parts[0].getElementsByClass("Measure"):
        ts = m.timeSignature or ts
        if ts is None:
            continue
        ratio, n_beats, beat_len = _meter_of(ts)
        meter = meter or ratio
        m_start = float(m.getOffsetInHierarchy(score))
        # A pickup measure's notional bar starts before the measure, so its first beat is not beat 1.
        bar_start = m_start - float(m.paddingLeft)
        beats = tuple(bar_start + i * beat_len for i in range(n_beats))
        kept = tuple(b for b in beats if b >= m_start - 1e-6 and b < m_start + float(m.duration.quarterLength) - 1e-6)
        if kept:
            first = round((kept[0] - bar_start) / beat_len) + 1
            bars.append(Bar(bar_start, beat_len, kept, first, ratio))
    length = float(score.highestTime)
    return notes, bars, phrase_starts, length, meter


def load_excerpt(rng: np.random.Generator, target_beats_fn, max_tries: int = 8) -> Excerpt:
    """Pick a source and cut an excerpt long enough for ``target_beats_fn(beat_length)`` beats.

    Short pieces are looped; the excerpt may start on any beat of its first bar.
    """
    sources = list_sources()
    weights = np.array([c.weight for c in COLLECTIONS])
    last_error: Exception | None = None
    for _ in range(max_tries):
        coll = COLLECTIONS[int(rng.choice(len(COLLECTIONS), p=weights / weights.sum()))]
        paths = sources[coll.folder]
        if not paths:
            continue
        path = paths[int(rng.integers(len(paths)))]
        try:
            notes, bars, phrases, length, meter = _extract(_parse(path))
        except Exception as exc:  # malformed corpus files are skipped, not fatal
            last_error = exc
            continue
        if meter not in METERS or not notes or len(bars) < 2 or length <= 0:
            continue
        if any(b.meter != meter for b in bars):
            continue
        source = f"{coll.folder}/{path.name}"
        return Excerpt(
            _assemble(rng, notes, bars, phrases, length, meter, target_beats_fn(bars[0].beat_length)),
            source,
            coll.licence,
            bars[0].beat_length,
        )
    raise RuntimeError(f"no usable music21 source found ({last_error})")


def _assemble(
    rng: np.random.Generator,
    notes: list[tuple[float, float, int, int]],
    bars: list[Bar],
    phrases: list[float],
    length: float,
    meter: str,
    target_beats: float,
) -> Arrangement:
    beat_len = bars[0].beat_length
    full_bars = [b for b in bars if b.first_beat == 1] or bars
    # Start on a bar from the first half of the piece, sometimes on a later beat of that bar.
    start_bar = full_bars[int(rng.integers(max(1, len(full_bars) // 2)))]
    start_beat_idx = int(rng.integers(len(start_bar.beats))) if rng.random() < 0.35 else 0
    cut = start_bar.beats[start_beat_idx]
    total = target_beats * beat_len
    n_parts = 1 + max(p for *_, p in notes)
    programs = _pick_programs(rng, n_parts)
    transpose = int(rng.integers(-3, 4))
    arr = Arrangement(
        tracks=[Track(f"part{i}", prog) for i, prog in enumerate(programs)],
        notes=[],
        bars=[],
        length=total,
        meter=meter,
    )
    loop = 0
    while True:
        shift = loop * length - cut
        if shift >= total:
            break
        for start, dur, pitch, part in notes:
            t = start + shift
            # Notes sounding across the cut are dropped: their attack happened before the record starts.
            if t >= 0.0 and t < total:
                arr.notes.append(NoteEvent(t, min(dur, total - t), max(0, min(127, pitch + transpose)), 0, part))
        for bar in bars:
            beats = tuple(b + shift for b in bar.beats if 0.0 <= b + shift < total)
            if beats:
                first = bar.first_beat + sum(1 for b in bar.beats if b + shift < 0.0)
                arr.bars.append(Bar(bar.start + shift, beat_len, beats, first, meter))
        arr.phrase_starts.extend(p + shift for p in phrases if 0.0 <= p + shift < total)
        if loop > 0:
            arr.phrase_starts.append(shift)
        loop += 1
    arr.bars = _drop_crowded_beats(arr.bars, beat_len)
    base = rng.integers(70, 105, size=n_parts)
    noise = rng.integers(-8, 9, size=len(arr.notes))
    # Players are not quantised: a few ms of spread per note (chords roll slightly), more for looser players.
    spread_s = float(rng.uniform(0.002, 0.01))
    jitter = rng.normal(0.0, spread_s, size=len(arr.notes))
    arr.notes = [
        NoteEvent(n.start, n.duration, n.pitch, int(base[n.track] + d), n.track, float(j))
        for n, d, j in zip(arr.notes, noise, jitter, strict=True)
    ]
    return arr


def _drop_crowded_beats(bars: list[Bar], beat_len: float) -> list[Bar]:
    """Where a piece loops, an incomplete last measure meets the restart: a beat less than half a beat before the
    next one is not a beat anyone would tap, so it is dropped (a bar left without beats goes with it)."""
    beats = sorted(t for bar in bars for t in bar.beats)
    crowded = {a for a, b in itertools.pairwise(beats) if b - a < 0.5 * beat_len}
    out = []
    for bar in bars:
        kept = [(i, t) for i, t in enumerate(bar.beats) if t not in crowded]
        if kept:
            first = bar.first_beat + kept[0][0]
            out.append(Bar(bar.start, bar.beat_length, tuple(t for _, t in kept), first, bar.meter))
    return out


def _pick_programs(rng: np.random.Generator, n_parts: int) -> list[int]:
    if n_parts == 1:
        return [int(rng.choice(MELODY_PROGRAMS))]
    if rng.random() < 0.5:
        return [int(rng.choice(ENSEMBLE_PROGRAMS))] * n_parts
    return [int(rng.choice(ENSEMBLE_PROGRAMS)) for _ in range(n_parts)]
