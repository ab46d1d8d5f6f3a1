"""The result of a chop: what the CLI prints and the HTTP API returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

GRID_DECIMALS = 4  # 0.1 ms: far below a frame (20 ms), short enough for a 30-minute grid in the JSON


@dataclass(frozen=True)
class Chop:
    """One chop. ``start``/``end`` are seconds in the record; ``chop_activation`` is the network's chop head near
    the start (the most within ±35 ms); ``score`` ranks candidates (decoded downbeats first, then phrase starts and
    chord changes, then other beats, each tier ordered by the chop head); ``rank`` is the order diversification
    chose it; ``downbeat`` says whether it starts on a decoded bar line."""

    index: int
    start: float
    end: float
    chop_activation: float
    score: float
    rank: int
    downbeat: bool
    start_sample: int
    end_sample: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "probability": round(self.chop_activation, 6),
            "score": round(self.score, 6),
            "rank": self.rank,
            "downbeat": self.downbeat,
        }


@dataclass(frozen=True)
class ChopResult:
    """Everything about one chopped record; ``to_dict`` is the JSON document of the CLI and the API.

    ``beats_s``/``downbeats_s`` are the decoded grid; ``tempo_bpm``/``beats_per_bar`` are None when no beat was
    found (silence, a record shorter than a few beats)."""

    duration: float
    sample_rate: int
    channels: int
    params: dict[str, Any]
    model_id: str
    feature_version: str
    tempo_bpm: float | None
    beats_per_bar: int | None
    beats_s: np.ndarray
    downbeats_s: np.ndarray
    chops: list[Chop]
    candidates: int
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": round(self.duration, 6),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "model_id": self.model_id,
            "feature_version": self.feature_version,
            "tempo_bpm": None if self.tempo_bpm is None else round(self.tempo_bpm, 2),
            "beats_per_bar": self.beats_per_bar,
            "grid": {
                "beats": [round(float(t), GRID_DECIMALS) for t in self.beats_s],
                "downbeats": [round(float(t), GRID_DECIMALS) for t in self.downbeats_s],
            },
            "params": self.params,
            "candidates": self.candidates,
            "chops": [chop.to_dict() for chop in self.chops],
        }
