"""The result of a chop (what the CLI prints and the HTTP API returns) and the chopped record it is cut from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from samplechop.service.engine.key import Key
from samplechop.service.engine.params import ChopParams
from samplechop.shared_features import DecodedAudio

GRID_DECIMALS = 4  # 0.1 ms: far below a frame (20 ms), short enough for a 30-minute grid in the JSON
# Times are written to the microsecond: below a sample at every rate up to 500 kHz, so `round(start * rate)` gives
# back the exact first sample of a slice (the web page and scripts edit chops by these times).
TIME_DECIMALS = 6
# A slice's tempo is fitted to the grid around it: 4 decimals (0.1 millibeat a minute) keep 16 beats at 120 BPM
# exact to well under a sample when a client recomputes the slice's length from it.
TEMPO_DECIMALS = 4
# How the record's and the chops' keys are estimated (samplechop/service/engine/key.py).
KEY_METHOD = "krumhansl-schmuckler/temperley on tonal-weighted chroma"


def key_dict(key: Key | None, *, method: bool = False) -> dict[str, Any] | None:
    """A key as the JSON document writes it (None when no key could be named)."""
    if key is None:
        return None
    values = key.to_dict()
    if method:
        values["method"] = KEY_METHOD
    return values


@dataclass(frozen=True)
class Chop:
    """One chop, its slice ``[start_sample, end_sample)`` of the original; ``start``/``end``/``attack`` are the
    same in seconds. ``chop_activation`` is the network's chop head near the start (the most within ±35 ms);
    ``score`` ranks candidates (decoded downbeats first, then phrase starts and chord changes, then other beats,
    each tier ordered by the chop head; a hand-placed point's score is its activation); ``rank`` is the order
    diversification chose it (the points' own order when placed by hand); ``downbeat`` says whether its attack is
    on a decoded bar line.

    ``mode`` is the length mode applied (``bars``/``beats`` fall back to ``to-next`` without a beat grid);
    ``loop`` says the slice is a whole number of bars or beats at ``tempo_bpm`` (fitted to the grid around it),
    so it loops in time; ``bars`` is that number of bars (bars mode); ``length_beats`` the slice's length in
    beats. ``note`` is the MIDI note its pad plays in the sampler programs, ``key`` its own key estimate, ``file``
    its WAV's name."""

    index: int
    start: float
    end: float
    chop_activation: float
    score: float
    rank: int
    downbeat: bool
    start_sample: int
    end_sample: int
    attack: float = 0.0
    attack_sample: int = 0
    mode: str = "to-next"
    loop: bool = False
    bars: int | None = None
    length_beats: float | None = None
    tempo_bpm: float | None = None
    note: int = 36
    key: Key | None = None
    file: str = ""

    @property
    def length_samples(self) -> int:
        return self.end_sample - self.start_sample

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start": round(self.start, TIME_DECIMALS),
            "end": round(self.end, TIME_DECIMALS),
            "attack": round(self.attack, TIME_DECIMALS),
            "probability": round(self.chop_activation, 6),
            "score": round(self.score, 6),
            "rank": self.rank,
            "downbeat": self.downbeat,
            "mode": self.mode,
            "loop": self.loop,
            "bars": self.bars,
            "beats": None if self.length_beats is None else round(self.length_beats, 3),
            "tempo_bpm": None if self.tempo_bpm is None else round(self.tempo_bpm, TEMPO_DECIMALS),
            "note": self.note,
            "key": key_dict(self.key),
            "file": self.file,
        }


@dataclass(frozen=True)
class ChopResult:
    """Everything about one chopped record; ``to_dict`` is the JSON document of the CLI and the API.

    ``slug`` is the record's name as the files are named (``vibe-ace`` → ``vibe-ace_01.wav``, ``vibe-ace.sfz``);
    ``beats_s``/``downbeats_s`` are the decoded grid; ``tempo_bpm``/``beats_per_bar`` are None when no beat was
    found (silence, a record shorter than a few beats); ``key`` is None when the record holds too little tonal
    material to name one. ``exports`` are the sampler programs written beside the slices."""

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
    slug: str = "record"
    key: Key | None = None
    exports: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": round(self.duration, TIME_DECIMALS),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "model_id": self.model_id,
            "feature_version": self.feature_version,
            "slug": self.slug,
            "tempo_bpm": None if self.tempo_bpm is None else round(self.tempo_bpm, 2),
            "beats_per_bar": self.beats_per_bar,
            "key": key_dict(self.key, method=True),
            "grid": {
                "beats": [round(float(t), GRID_DECIMALS) for t in self.beats_s],
                "downbeats": [round(float(t), GRID_DECIMALS) for t in self.downbeats_s],
            },
            "params": self.params,
            "candidates": self.candidates,
            "chops": [chop.to_dict() for chop in self.chops],
            "exports": list(self.exports),
        }


@dataclass
class ChoppedRecord:
    """A chop result together with the decoded audio its slices are cut from and the parameters it was made with:
    what the writers (:mod:`samplechop.service.engine.writers`) turn into files."""

    result: ChopResult
    audio: DecodedAudio
    params: ChopParams = field(default_factory=ChopParams)
