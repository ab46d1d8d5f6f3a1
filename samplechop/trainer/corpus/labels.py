"""The chop-label rule and the beat grid, both through the record's tempo map.

Chop points: downbeats, phrase starts and on-beat chord changes, each placed at the earliest note-on (after tempo
mapping and feel offsets) within ±40 ms of it. A candidate with nothing starting near it (a tied note across the
barline, a reggae bass resting on the one with nothing else playing) is not a chop point: nothing starts there for
a producer to hear. Beats: every beat of the tempo map inside the record from half a beat before the first sound
on (no beats are labelled in silence before the music starts), including drumless passages, stops and drift.
"""

from __future__ import annotations

import numpy as np

from samplechop.trainer.corpus.arrangement import Arrangement
from samplechop.trainer.corpus.tempo import TempoMap

HEAD_S = 0.1
TAIL_S = 0.5
MERGE_S = 0.05
SNAP_S = 0.04  # covers humanised and laid-back hits, never a neighbouring sixteenth at up to ~190 BPM
PREROLL_S = 2.0  # an excerpt is rendered from this long before its start, so it opens with ringing notes


def onset_times(arr: Arrangement, tmap: TempoMap) -> np.ndarray:
    """Every note-on in seconds (tempo map + feel offset), sorted."""
    if not arr.notes:
        return np.zeros(0)
    starts = np.array([n.start for n in arr.notes])
    shifts = np.array([n.shift_s for n in arr.notes])
    return np.sort(np.asarray(tmap.seconds(starts)) + shifts)


def _phrase_entries(arr: Arrangement, gap_q: float) -> list[float]:
    """Onsets that follow at least ``gap_q`` of silence in every track: a section (re)starts there."""
    events = sorted((n.start, n.start + n.duration) for n in arr.notes)
    entries: list[float] = []
    sounding_until = -np.inf
    for start, end in events:
        if start - sounding_until >= gap_q:
            entries.append(start)
        sounding_until = max(sounding_until, end)
    return entries


def chop_times(
    arr: Arrangement, tmap: TempoMap, duration_s: float, beat_length: float, with_chords: bool = True
) -> list[float]:
    onsets = onset_times(arr, tmap)
    if onsets.size == 0:
        return []
    candidates = [*arr.downbeats(), *arr.phrase_starts, *_phrase_entries(arr, beat_length)]
    if with_chords:
        candidates += arr.chord_changes
    cand_s = np.sort(np.asarray(tmap.seconds(np.array(candidates, dtype=np.float64))))
    times: list[float] = []
    for t in cand_s:
        lo = np.searchsorted(onsets, t - SNAP_S)
        hi = np.searchsorted(onsets, t + SNAP_S, side="right")
        if hi > lo:
            times.append(float(onsets[lo]))
    times = sorted(t for t in times if HEAD_S <= t <= duration_s - TAIL_S)
    merged: list[float] = []
    for t in times:
        if not merged or t - merged[-1] > MERGE_S:
            merged.append(t)
    return merged


def beat_rows(arr: Arrangement, tmap: TempoMap, duration_s: float) -> list[tuple[float, int]]:
    onsets = onset_times(arr, tmap)
    # Music is already sounding at the start of an excerpt when notes started in the pre-roll.
    audible = onsets[(onsets >= -PREROLL_S) & (onsets < duration_s)]
    if audible.size == 0:
        return []
    grid = arr.beat_grid()
    times = np.asarray(tmap.seconds(np.array([q for q, _ in grid], dtype=np.float64)))
    half_beat_s = 0.5 * arr.bars[0].beat_length * 60.0 / tmap.qpm_at(arr.bars[0].start) if arr.bars else 0.0
    first = float(audible[0]) - half_beat_s
    return [(float(t), pos) for t, (_, pos) in zip(times, grid, strict=True) if max(0.0, first) <= t < duration_s]
