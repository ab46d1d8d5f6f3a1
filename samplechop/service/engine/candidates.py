"""From the decoded bar grid and the network's chop activation to a short, ranked list of candidate chop points.

Candidates come in three tiers, each ranked by the chop head within it, so the order is the one a producer cuts
in: decoded downbeats (bar starts) first, then phrase starts and chord changes the chop head hears off the bar
line, then the other beats — these only when too few candidates would otherwise be left. Every helper here is a
vectorised numpy expression: the stage grows linearly with the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy.ndimage import maximum_filter1d

# Tier offsets: a score is (tier + chop activation) / 3, so every downbeat outranks every off-grid chop peak,
# and every off-grid peak outranks every plain beat, while the chop head orders each tier.
DOWNBEAT_TIER = 2.0
PEAK_TIER = 1.0
BEAT_TIER = 0.0
TIERS = 3.0


@dataclass(frozen=True)
class Candidates:
    """Candidate chop points, best first: times in seconds, scores in [0, 1], the chop activation near each, and
    whether each is a decoded downbeat."""

    times_s: np.ndarray
    scores: np.ndarray
    chop_activation: np.ndarray
    on_downbeat: np.ndarray

    @property
    def size(self) -> int:
        return int(self.times_s.size)


def spread_max(values: np.ndarray, radius_frames: int) -> np.ndarray:
    """Every frame's largest value within ``radius_frames`` of it (``values`` itself for a radius of 0)."""
    if values.size == 0 or radius_frames <= 0:
        return values
    spread: np.ndarray = maximum_filter1d(values, size=2 * radius_frames + 1, mode="nearest")
    return spread


def values_at(values: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``values`` at ``frames`` (clipped to the array; 0 where the array is empty): float64."""
    if values.size == 0 or np.size(frames) == 0:
        return np.zeros(np.size(frames), dtype=np.float64)
    return values[np.clip(np.asarray(frames, dtype=np.int64), 0, values.size - 1)].astype(np.float64)


def window_max(values: np.ndarray, frames: np.ndarray, radius_frames: int) -> np.ndarray:
    """Largest value within ``radius_frames`` of each frame (frames clipped to the array): float64."""
    if values.size == 0 or np.size(frames) == 0:
        return np.zeros(np.size(frames), dtype=np.float64)
    return values_at(spread_max(values, radius_frames), frames)


def local_peaks(values: np.ndarray) -> np.ndarray:
    """Frames whose value is a local maximum (plateaus give their first frame)."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    left = np.concatenate([[-np.inf], values[:-1]])
    right = np.concatenate([values[1:], [-np.inf]])
    return np.flatnonzero((values > left) & (values >= right))


def snap_to_onsets(
    times_s: np.ndarray, onset_envelope: np.ndarray, frame_rate_hz: float, radius_frames: int
) -> np.ndarray:
    """Move each time to the strongest onset-envelope peak within ``radius_frames`` frames, if there is one.

    A time with no envelope peak near it (a beat on silence) keeps its own, sub-frame, value.
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    if times_s.size == 0 or onset_envelope.size == 0 or radius_frames <= 0:
        return times_s
    frames = np.clip(np.rint(times_s * frame_rate_hz).astype(np.int64), 0, onset_envelope.size - 1)
    offsets = np.arange(-radius_frames, radius_frames + 1)
    neighbourhood = np.clip(frames[:, None] + offsets[None, :], 0, onset_envelope.size - 1)
    values = onset_envelope[neighbourhood]
    is_peak = np.zeros(onset_envelope.size, dtype=bool)
    is_peak[local_peaks(onset_envelope)] = True
    values = np.where(is_peak[neighbourhood] & (values > 0), values, -np.inf)
    best = np.argmax(values, axis=1)
    has_peak = np.isfinite(values[np.arange(frames.size), best])
    snapped = neighbourhood[np.arange(frames.size), best] / frame_rate_hz
    return np.where(has_peak, snapped, times_s)


def suppress_near(times_s: np.ndarray, scores: np.ndarray, min_distance_s: float) -> np.ndarray:
    """Greedy non-maximum suppression: best first, dropping any point within ``min_distance_s`` of a kept one.

    Returns the kept positions (indices into ``times_s``), best first. Points are compared only with their
    neighbours in time (sorted-array queries), so the cost is ~linear in the number of points.
    """
    times_s, scores = np.asarray(times_s, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    if times_s.size == 0:
        return np.zeros(0, dtype=np.int64)
    by_time = np.argsort(times_s, kind="stable")
    sorted_times = times_s[by_time]
    rank_in_time = np.empty_like(by_time)
    rank_in_time[by_time] = np.arange(by_time.size)
    alive = np.ones(times_s.size, dtype=bool)  # indexed in time order
    kept: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        position = int(rank_in_time[index])
        if not alive[position]:
            continue
        kept.append(int(index))
        low = np.searchsorted(sorted_times, sorted_times[position] - min_distance_s, side="right")
        high = np.searchsorted(sorted_times, sorted_times[position] + min_distance_s, side="left")
        alive[low:high] = False
    return np.asarray(kept, dtype=np.int64)


def pick_candidates(
    *,
    beats_s: np.ndarray,
    downbeats_s: np.ndarray,
    chop_activation: np.ndarray,
    onset_envelope: np.ndarray,
    frame_rate_hz: float,
    duration_s: float,
    threshold: float,
    top_n: int,
    minimum: int,
    min_distance_s: float,
    snap_radius_frames: int,
) -> Candidates:
    """The top-``top_n`` candidate chop points, best first.

    - every decoded downbeat (score (2 + chop)/3);
    - every peak of the chop activation at or above ``threshold`` that is not on a decoded beat — a phrase start
      or chord change the chop head hears off the bar line (score (1 + chop)/3);
    - when fewer than ``minimum`` candidates remain after suppression: the best of the other beats, then of the
      record's strongest onsets (score chop/3), just enough to reach ``minimum``, so a producer who asks for
      eight chops gets eight.

    Each point is snapped to the strongest onset within ``snap_radius_frames`` so the chop starts on the attack;
    points closer than ``min_distance_s`` are suppressed, keeping the better; none starts so close to the end
    that its pad would be shorter than ``min_distance_s``.
    """
    radius = max(1, snap_radius_frames)
    beats_s = np.asarray(beats_s, dtype=np.float64)
    downbeats_s = np.asarray(downbeats_s, dtype=np.float64)
    peaks = local_peaks(chop_activation)
    peaks = peaks[chop_activation[peaks] >= threshold] if peaks.size else peaks
    peak_times = peaks / frame_rate_hz
    if beats_s.size and peak_times.size:
        nearest = np.abs(peak_times[:, None] - beats_s[None, :]).min(axis=1) if beats_s.size < 4096 else None
        if nearest is None:  # very long records: neighbour query on the sorted beats instead of a full matrix
            slot = np.clip(np.searchsorted(beats_s, peak_times), 1, beats_s.size - 1)
            nearest = np.minimum(np.abs(peak_times - beats_s[slot - 1]), np.abs(beats_s[slot] - peak_times))
        peak_times = peak_times[nearest > radius / frame_rate_hz]
    other_beats = beats_s[~np.isin(beats_s, downbeats_s)]
    # The chop head's maximum around every frame, once per record: every tier reads its points' activation here,
    # and the first two tiers are snapped and read once even when the other beats are added to them.
    chop_near = spread_max(chop_activation, radius)

    scored = partial(
        _tier, onset_envelope=onset_envelope, chop_near=chop_near, frame_rate_hz=frame_rate_hz, radius=radius
    )
    tiers = [scored(downbeats_s, DOWNBEAT_TIER), scored(peak_times, PEAK_TIER)]
    main = _tiered(tiers, duration_s, min_distance_s)
    if main.times_s.size >= minimum:
        return _top(main, top_n)
    strong = _strong_onsets(onset_envelope) / frame_rate_hz
    tiers += [scored(other_beats, BEAT_TIER), scored(strong, BEAT_TIER - 0.5)]
    filled = _tiered(tiers, duration_s, min_distance_s)
    # Fill up to ``minimum``, not to ``top_n``: a plain beat is a candidate only because too few better ones exist.
    return _top(filled, min(top_n, max(main.times_s.size, minimum)))


@dataclass(frozen=True)
class _Tier:
    """The points of one tier, each snapped to its onset, with the chop head's activation near it."""

    times_s: np.ndarray
    chop_activation: np.ndarray
    value: float


def _tier(
    times_s: np.ndarray,
    value: float,
    *,
    onset_envelope: np.ndarray,
    chop_near: np.ndarray,
    frame_rate_hz: float,
    radius: int,
) -> _Tier:
    """``times_s`` snapped to the onsets (:func:`snap_to_onsets`) and the activation near each, read from the chop
    head already spread over ``radius`` frames (:func:`spread_max`)."""
    times = snap_to_onsets(np.asarray(times_s, dtype=np.float64), onset_envelope, frame_rate_hz, radius)
    return _Tier(times, values_at(chop_near, np.rint(times * frame_rate_hz).astype(np.int64)), value)


def _tiered(tiers: list[_Tier], duration_s: float, min_distance_s: float) -> Candidates:
    """The tiers' points scored, kept clear of the record's end and suppressed near better ones, best first."""
    times = np.concatenate([t.times_s for t in tiers])
    chop = np.concatenate([t.chop_activation for t in tiers])
    tier = np.concatenate([np.full(t.times_s.size, t.value) for t in tiers])
    on_downbeat = np.concatenate([np.full(t.times_s.size, t.value == DOWNBEAT_TIER) for t in tiers])
    scores = np.clip((np.maximum(tier, 0.0) + chop) / TIERS, 0.0, 1.0) - np.where(tier < 0, 1e-3, 0.0)
    # A chop in the record's last moments would make a pad of a few milliseconds: keep a chop's worth of room.
    room = (times >= 0.0) & (times < duration_s - max(min_distance_s, 0.05))
    times, scores, chop, on_downbeat = times[room], scores[room], chop[room], on_downbeat[room]
    order = suppress_near(times, scores, min_distance_s)
    return Candidates(times[order], np.maximum(scores[order], 0.0), chop[order], on_downbeat[order])


def _top(candidates: Candidates, top_n: int) -> Candidates:
    return Candidates(
        candidates.times_s[:top_n],
        candidates.scores[:top_n],
        candidates.chop_activation[:top_n],
        candidates.on_downbeat[:top_n],
    )


def _strong_onsets(onset_envelope: np.ndarray) -> np.ndarray:
    """Onset-envelope peaks that stand out (above mean + one standard deviation): the record's clear attacks."""
    if onset_envelope.size == 0:
        return np.zeros(0, dtype=np.int64)
    peaks = local_peaks(onset_envelope)
    strong: np.ndarray = peaks[onset_envelope[peaks] > onset_envelope.mean() + onset_envelope.std()]
    return strong
