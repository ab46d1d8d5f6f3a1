"""Reading the corpus's annotation files (``NAME.txt`` chop times, ``NAME.beats`` beat rows) and turning times into
per-frame targets. (Making those labels from an arrangement is :mod:`samplechop.trainer.corpus.labels`.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_chop_times(path: Path) -> np.ndarray:
    """Chop times in seconds from a text file, one per line (blank lines and ``#`` comments ignored)."""
    times = []
    for line in Path(path).read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            times.append(float(text.split()[0]))
    return np.asarray(sorted(times), dtype=np.float64)


def frame_labels(
    chop_times_s: np.ndarray, n_frames: int, hop_length: int, sample_rate: int, neighbours: int = 1
) -> np.ndarray:
    """Per-frame 0/1 targets: the frame nearest each chop time and ``neighbours`` frames either side are 1.

    Shape (n_frames,), uint8. Times outside the record are ignored.
    """
    labels = np.zeros(n_frames, dtype=np.uint8)
    centres = np.rint(np.asarray(chop_times_s) * sample_rate / hop_length).astype(np.int64)
    for offset in range(-neighbours, neighbours + 1):
        frames = centres + offset
        labels[frames[(frames >= 0) & (frames < n_frames)]] = 1
    return labels


def read_beat_rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(beat times in seconds, position in the bar, 1 = downbeat) from a ``time<TAB>position`` file."""
    rows = np.loadtxt(path, ndmin=2)
    if rows.size == 0:
        return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64)
    return rows[:, 0].astype(np.float64), rows[:, 1].astype(np.int64)
