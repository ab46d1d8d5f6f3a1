"""The result of a chop: what the CLI prints and the HTTP API returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Chop:
    """One chop. ``start``/``end`` are seconds in the record; ``probability`` is the model's, ``score`` that
    probability weighted by the chop's place in the bar (what ranking and diversification use); ``rank`` is the
    order diversification chose it."""

    index: int
    start: float
    end: float
    probability: float
    score: float
    rank: int
    start_sample: int
    end_sample: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "probability": round(self.probability, 6),
            "score": round(self.score, 6),
            "rank": self.rank,
        }


@dataclass(frozen=True)
class ChopResult:
    """Everything about one chopped record; ``to_dict`` is the JSON document of the CLI and the API."""

    duration: float
    sample_rate: int
    channels: int
    params: dict[str, Any]
    model_id: str
    feature_version: str
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
            "params": self.params,
            "candidates": self.candidates,
            "chops": [chop.to_dict() for chop in self.chops],
        }
