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
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for index in order:
        frame = int(frames[index])
        if all(abs(frame - other) >= min_distance_frames for other in kept):
            kept.append(frame)
    return np.asarray(kept, dtype=np.int64)


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
) -> np.ndarray:
    """The top-``top_n`` candidate chop frames, most probable first.

    Positive runs (frames ≥ ``threshold``) each give their most probable frame; candidates closer than
    ``merge_frames`` merge; each is snapped to the strongest onset within ``snap_radius_frames``; then
    candidates closer than ``min_distance_frames`` are suppressed, keeping the more probable. When fewer than
    ``minimum`` candidates clear the threshold, sub-threshold peaks (at least ``FILL_FLOOR``) join them, best
    first, and if still too few, the record's strongest onsets: a producer who asks for eight chops of a record
    the model finds little in wants eight chops on attacks, ranked honestly by the model's probability.
    """
    runs = positive_runs(probabilities, threshold)
    above = np.asarray([start + int(np.argmax(probabilities[start : stop + 1])) for start, stop in runs], dtype=np.int64)
    above = merge_close(above, probabilities, merge_frames)
    if above.size < minimum:
        peaks = local_peaks(probabilities)
        peaks = peaks[(probabilities[peaks] < threshold) & (probabilities[peaks] >= FILL_FLOOR)]
        above = np.concatenate([above, peaks])
    if above.size < minimum:
        above = np.concatenate([above, strong_onsets(onset_strength)])
    snapped = np.unique(snap_to_onsets(above, onset_strength, snap_radius_frames))
    # Score by the model's probability at the snapped frame or the original, whichever the model preferred.
    scores = np.asarray(
        [probabilities[max(frame - snap_radius_frames, 0) : frame + snap_radius_frames + 1].max() for frame in snapped]
    ) if snapped.size else np.zeros(0)
    kept = suppress_near(snapped, scores, min_distance_frames)
    return kept[:top_n]
