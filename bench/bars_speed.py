"""Speed of the bar decoder: decode time for 1, 3, 10 and 30 minutes of synthetic activations at 50 fps.

The activations are a 4/4 grid at 123 BPM (a non-integer 24.4-frame beat interval) with human timing, 10 % missed
beats, a stray peak a second and a noise floor, so the decoder does its real work. Each figure is the best of
``--repeat`` runs in this process (one core; numpy's own threads are not used by the decoder). The growth ratio is
time per frame relative to the shortest record: 1.0 is linear time. Also prints the peak size of the decoder's
score table (float32 frames × tempi × (positions + meters)).

    python bench/bars_speed.py [--minutes 1 3 10 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from samplechop.service.engine.bars import decode_bars  # noqa: E402

FPS = 50.0


def synthetic_activations(minutes: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """(beat, downbeat, bpm): Gaussian bumps on a 123-BPM 4/4 grid over noise, with dropouts and stray peaks."""
    rng = np.random.default_rng(seed)
    frames = int(minutes * 60 * FPS)
    bpm = 123.0
    beats_s = np.arange(0.5, frames / FPS - 0.1, 60.0 / bpm)
    beats_s = beats_s + rng.normal(0.0, 0.008, beats_s.size)
    heights = np.where(rng.random(beats_s.size) > 0.1, rng.uniform(0.5, 0.95, beats_s.size), 0.0)
    strays_s = rng.uniform(0.0, frames / FPS, int(frames / FPS))
    beat = rng.uniform(0.0, 0.1, frames)
    downbeat = rng.uniform(0.0, 0.05, frames)
    offsets = np.arange(-2, 3)
    for target, times_s, peaks in (
        (beat, np.concatenate([beats_s, strays_s]), np.concatenate([heights, rng.uniform(0.2, 0.6, strays_s.size)])),
        (downbeat, beats_s[::4], heights[::4] * 0.9),
    ):
        centres = np.round(times_s * FPS).astype(np.int64)
        index = np.clip(centres[:, None] + offsets[None, :], 0, frames - 1)
        bumps = peaks[:, None] * np.exp(-0.5 * ((index / FPS - times_s[:, None]) / 0.015) ** 2)
        np.maximum.at(target, index.ravel(), bumps.ravel())
    return beat, downbeat, bpm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0, 10.0, 30.0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    base_per_frame = None
    print(f"{'minutes':>8} {'frames':>8} {'decode s':>9} {'µs/frame':>9} {'growth':>7} {'table MB':>9} {'bpm':>7}")
    for minutes in args.minutes:
        beat, downbeat, bpm = synthetic_activations(minutes)
        best = np.inf
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            grid = decode_bars(beat, downbeat, frame_rate_hz=FPS)
            best = min(best, time.perf_counter() - start)
        per_frame = best / beat.size
        base_per_frame = base_per_frame or per_frame
        # The table: one row per frame plus one beat period, 42 tempi × (7 positions + 2 meter entries) at 50 fps.
        intervals = int(np.floor(60 * FPS / 55.0)) - int(np.ceil(60 * FPS / 215.0)) + 1
        table_mb = (beat.size + int(60 * FPS / 55.0)) * intervals * 9 * 4 / 1e6
        print(
            f"{minutes:8.1f} {beat.size:8d} {best:9.3f} {per_frame * 1e6:9.2f} {per_frame / base_per_frame:7.2f} "
            f"{table_mb:9.1f} {grid.tempo_bpm:7.2f}"
        )
        if abs(grid.tempo_bpm / bpm - 1) > 0.02:
            print(f"  warning: decoded {grid.tempo_bpm:.2f} BPM, expected {bpm}", file=sys.stderr)


if __name__ == "__main__":
    main()
