"""From per-frame chop probabilities to a short list of candidate chop frames."""

from __future__ import annotations

import numpy as np

# Sub-threshold peaks below this are the model saying "no"; they never fill up a short candidate list.
FILL_FLOOR = 0.05


def positive_runs(probabilities: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Runs of consecutive frames at or above ``threshold``, as (first, last) frame indices inclusive."""
    above = np.concatenate([[False], probabilities >= threshold, [False]])
    edges = np.flatnonzero(above[1:] != above[:-1])
    return [(int(start), int(stop) - 1) for start, stop in zip(edges[::2], edges[1::2], strict=True)]


def local_peaks(probabilities: np.ndarray) -> np.ndarray:
    """Frames whose probability is a local maximum (plateaus give their first frame)."""
    if probabilities.size == 0:
        return np.zeros(0, dtype=np.int64)
    left = np.concatenate([[-np.inf], probabilities[:-1]])
    right = np.concatenate([probabilities[1:], [-np.inf]])
    return np.flatnonzero((probabilities > left) & (probabilities >= right))


def strong_onsets(onset_strength: np.ndarray) -> np.ndarray:
    """Onset-envelope peaks that stand out (above mean + one standard deviation): the record's clear attacks."""
    if onset_strength.size == 0:
        return np.zeros(0, dtype=np.int64)
    peaks = local_peaks(onset_strength)
    return peaks[onset_strength[peaks] > onset_strength.mean() + onset_strength.std()]


def merge_close(frames: np.ndarray, probabilities: np.ndarray, merge_frames: int) -> np.ndarray:
    """Merge frames closer than ``merge_frames`` into the most probable of each group; sorted frame indices."""
    frames = np.sort(np.asarray(frames, dtype=np.int64))
    if frames.size == 0:
        return frames
    kept: list[int] = [int(frames[0])]
    for frame in frames[1:]:
        if frame - kept[-1] < merge_frames:
            if probabilities[frame] > probabilities[kept[-1]]:
                kept[-1] = int(frame)
        else:
            kept.append(int(frame))
    return np.asarray(kept, dtype=np.int64)


def suppress_near(frames: np.ndarray, scores: np.ndarray, min_distance_frames: int) -> np.ndarray:
    """Greedy non-maximum suppression: best-scored first, dropping any frame within ``min_distance_frames``.

    Returns the kept frames ordered by score, best first.
    """
    return np.asarray(frames, dtype=np.int64)[suppress_near_indices(frames, scores, min_distance_frames)]


def snap_to_onsets(frames: np.ndarray, onset_strength: np.ndarray, radius_frames: int) -> np.ndarray:
    """Move each frame to the strongest onset within ``radius_frames`` of it, so a chop starts on the attack."""
    if radius_frames <= 0 or onset_strength.size == 0:
        return frames
    snapped = np.empty_like(frames)
    last = onset_strength.size - 1
    for position, frame in enumerate(frames):
        low, high = max(int(frame) - radius_frames, 0), min(int(frame) + radius_frames, last)
        snapped[position] = low + int(np.argmax(onset_strength[low : high + 1]))
    return snapped


def window_max(values: np.ndarray, frames: np.ndarray, radius_frames: int) -> np.ndarray:
    """Largest value within ``radius_frames`` of each frame."""
    return np.asarray(
        [values[max(int(f) - radius_frames, 0) : int(f) + radius_frames + 1].max() for f in frames], dtype=np.float64
    )


def pick_candidates(
    probabilities: np.ndarray,
    onset_strength: np.ndarray,
    *,
    threshold: float,
    top_n: int,
    minimum: int,
    min_distance_frames: int,
    merge_frames: int,
    snap_radius_frames: int,
    beat_frames: np.ndarray | None = None,
    off_beat_factor: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """The top-``top_n`` candidate chop frames and their scores, best first.

    Candidates come from two places, each snapped to the strongest onset within ``snap_radius_frames`` so a
    chop starts on the attack:

    - the model's positive runs (frames ≥ ``threshold``): one candidate each, at its most probable frame, those
      closer than ``merge_frames`` merged;
    - the tracked beats (``beat_frames``), weighted by :func:`bar_phase_weights` so the bar position the model
      hears as the downbeat ranks first.

    A candidate's score is the model's probability around it (times its bar-position weight on a beat, times
    ``off_beat_factor`` off the beat grid). Candidates closer than ``min_distance_frames`` are suppressed,
    keeping the better, and none starts within ``min_distance_frames`` of the end. When fewer than ``minimum``
    remain, sub-threshold peaks (at least ``FILL_FLOOR``) and then the record's strongest onsets fill up: a
    producer who asks for eight chops wants eight chops on attacks, ranked honestly by the model.
    """
    from service.engine.beats import bar_phase_weights

    runs = positive_runs(probabilities, threshold)
    peaks = np.asarray(
        [start + int(np.argmax(probabilities[start : stop + 1])) for start, stop in runs], dtype=np.int64
    )
    peaks = snap_to_onsets(merge_close(peaks, probabilities, merge_frames), onset_strength, snap_radius_frames)
    frames: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    beats = np.zeros(0, dtype=np.int64)
    if beat_frames is not None and beat_frames.size:
        beats = snap_to_onsets(np.asarray(beat_frames, dtype=np.int64), onset_strength, snap_radius_frames)
        beat_probabilities = window_max(probabilities, beats, snap_radius_frames)
        frames.append(beats)
        scores.append(beat_probabilities * bar_phase_weights(beat_probabilities))
    off_grid = peaks
    if beats.size and peaks.size:
        off_grid = peaks[np.min(np.abs(peaks[:, None] - beats[None, :]), axis=1) > snap_radius_frames]
    frames.append(off_grid)
    factor = off_beat_factor if beats.size else 1.0
    scores.append(window_max(probabilities, off_grid, snap_radius_frames) * factor)
    all_frames, all_scores = np.concatenate(frames), np.concatenate(scores)
    if np.count_nonzero(all_scores >= FILL_FLOOR * 0.5) < minimum:
        fill = local_peaks(probabilities)
        fill = fill[(probabilities[fill] < threshold) & (probabilities[fill] >= FILL_FLOOR)]
        fill = np.concatenate([fill, strong_onsets(onset_strength)])
        fill = snap_to_onsets(fill, onset_strength, snap_radius_frames)
        all_frames = np.concatenate([all_frames, fill])
        all_scores = np.concatenate([all_scores, window_max(probabilities, fill, snap_radius_frames) * 0.1])
    # A chop in the record's last moments would make a pad of a few milliseconds: keep a chop's worth of room.
    room = all_frames < probabilities.size - min(min_distance_frames, probabilities.size // 4)
    all_frames, all_scores = all_frames[room], all_scores[room]
    order = suppress_near_indices(all_frames, all_scores, min_distance_frames)[:top_n]
    return all_frames[order], all_scores[order]


def suppress_near_indices(frames: np.ndarray, scores: np.ndarray, min_distance_frames: int) -> np.ndarray:
    """Greedy non-maximum suppression over (frame, score) pairs: the kept positions in ``frames``, best first."""
    kept: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if all(abs(int(frames[index]) - int(frames[other])) >= min_distance_frames for other in kept):
            kept.append(int(index))
    return np.asarray(kept, dtype=np.int64)
