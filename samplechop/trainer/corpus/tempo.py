"""The tempo map: quarter notes → seconds, with a lead-in and (optionally) a drifting tempo.

A band without a click drifts a few per cent over a minute and pushes into choruses; a sequenced record does not.
The map is piecewise constant on a fine grid (one tempo per sixteenth note), so ``seconds`` is piecewise linear,
exact, monotonic and cheap; every beat label and every note-on goes through the same map, so labels follow the drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEP_Q = 0.25  # tempo resolution: one value per sixteenth note; finer steps are inaudible as steps


@dataclass(frozen=True)
class TempoMap:
    lead_in_s: float
    origin_q: float  # the quarter-note position that sounds at lead_in_s (excerpts start mid-song)
    knots_q: np.ndarray  # grid positions, STEP_Q apart, covering every note
    knots_s: np.ndarray  # seconds at each knot (cumulative), before the lead-in

    def seconds(self, q: float | np.ndarray) -> np.ndarray | float:
        t = np.interp(q, self.knots_q, self.knots_s, left=np.nan, right=np.nan)
        # Linear extrapolation beyond the grid at the end tempos (notes just outside the covered span).
        q_arr = np.asarray(q, dtype=np.float64)
        lo_rate = (self.knots_s[1] - self.knots_s[0]) / STEP_Q
        hi_rate = (self.knots_s[-1] - self.knots_s[-2]) / STEP_Q
        t = np.where(q_arr < self.knots_q[0], self.knots_s[0] + (q_arr - self.knots_q[0]) * lo_rate, t)
        t = np.where(q_arr > self.knots_q[-1], self.knots_s[-1] + (q_arr - self.knots_q[-1]) * hi_rate, t)
        out = t - float(np.interp(self.origin_q, self.knots_q, self.knots_s)) + self.lead_in_s
        return float(out) if np.ndim(q) == 0 else out

    def qpm_at(self, q: float) -> float:
        i = int(np.clip(np.searchsorted(self.knots_q, q, side="right") - 1, 0, self.knots_q.size - 2))
        return 60.0 * STEP_Q / float(self.knots_s[i + 1] - self.knots_s[i])

    def qpm_range(self, q0: float, q1: float) -> tuple[float, float]:
        mask = (self.knots_q[:-1] >= q0) & (self.knots_q[:-1] < q1)
        rates = 60.0 * STEP_Q / np.diff(self.knots_s)[mask]
        return (float(rates.min()), float(rates.max())) if rates.size else (self.qpm_at(q0),) * 2


def constant(qpm: float, span_q: tuple[float, float], lead_in_s: float = 0.0, origin_q: float = 0.0) -> TempoMap:
    return drifting(qpm, np.zeros(2), span_q, lead_in_s, origin_q)


def drifting(
    qpm: float,
    drift: np.ndarray,
    span_q: tuple[float, float],
    lead_in_s: float = 0.0,
    origin_q: float = 0.0,
) -> TempoMap:
    """``drift``: relative tempo deviations (e.g. 0.02 = 2 % faster) spread evenly over ``span_q``."""
    knots_q = np.arange(span_q[0], span_q[1] + STEP_Q, STEP_Q)
    rel = np.interp(np.linspace(0.0, 1.0, knots_q.size - 1), np.linspace(0.0, 1.0, drift.size), drift)
    seconds_per_step = 60.0 / (qpm * (1.0 + rel)) * STEP_Q
    knots_s = np.concatenate([[0.0], np.cumsum(seconds_per_step)])
    return TempoMap(lead_in_s, origin_q, knots_q, knots_s)


def random_drift(rng: np.random.Generator, n_points: int, max_rel: float, trend_rel: float) -> np.ndarray:
    """A smooth random walk (one point per bar, smoothed) plus a linear trend, clipped to ±max_rel.

    Amplitudes are drawn by the caller; a few per cent is what un-clicked live takes show (drummers' tempo
    typically wanders 1-4 % over a song and rises into choruses).
    """
    n = max(2, n_points)
    walk = np.cumsum(rng.normal(0.0, 1.0, n))
    kernel = np.hanning(5)
    walk = np.convolve(np.pad(walk, 2, mode="edge"), kernel / kernel.sum(), mode="valid")
    walk -= walk.mean()
    peak = float(np.abs(walk).max())
    if peak > 0:
        walk *= max_rel / peak
    walk += np.linspace(-trend_rel / 2, trend_rel / 2, n)
    return np.clip(walk, -max_rel - abs(trend_rel), max_rel + abs(trend_rel))
