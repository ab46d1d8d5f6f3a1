"""The chop-label rule: downbeats, phrase starts and on-beat chord changes, each placed at its first note-on.

A candidate with no note-on near it (a tied note across the barline, a rest) is not a chop point: nothing starts
there for a producer to hear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.corpus.arrangement import Arrangement

HEAD_S = 0.1
TAIL_S = 0.5
MERGE_S = 0.05


@dataclass(frozen=True)
class Timing:
    """Maps quarter notes to seconds: constant tempo after a lead-in of silence."""

    qpm: float
    lead_in_s: float

    def seconds(self, q: float) -> float:
        return self.lead_in_s + q * 60.0 / self.qpm


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


def chop_times(arr: Arrangement, timing: Timing, duration_s: float, beat_length: float) -> list[float]:
    onsets = np.array(sorted({n.start for n in arr.notes}))
    if onsets.size == 0:
        return []
    tol_q = 0.04 * timing.qpm / 60.0  # 40 ms either side: covers humanised hits, never a neighbouring 16th
    candidates = [*arr.downbeats(), *arr.phrase_starts, *arr.chord_changes, *_phrase_entries(arr, beat_length)]
    times: list[float] = []
    for q in sorted(candidates):
        lo = np.searchsorted(onsets, q - tol_q)
        hi = np.searchsorted(onsets, q + tol_q, side="right")
        if hi > lo:
            times.append(timing.seconds(float(onsets[lo])))
    times = sorted(t for t in times if HEAD_S <= t <= duration_s - TAIL_S)
    merged: list[float] = []
    for t in times:
        if not merged or t - merged[-1] > MERGE_S:
            merged.append(t)
    return merged


def beat_rows(arr: Arrangement, timing: Timing, duration_s: float) -> list[tuple[float, int]]:
    return [(timing.seconds(q), pos) for q, pos in arr.beat_grid() if 0.0 <= timing.seconds(q) < duration_s]
