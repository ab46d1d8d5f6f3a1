"""Request options and the documented shapes of the service's answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.engine import ChopParams

Format = Literal["json", "zip"]


class ChopOptions(BaseModel):
    """Chop parameters, as query parameters or form fields beside the file (a form field wins)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    diversity: float = Field(
        0.999,
        alias="lambda",
        ge=0.0,
        le=1.0,
        description="diversity weight: 0 picks chops by probability only, 1 by harmonic difference only",
        examples=[0.999],
    )
    top_n: int = Field(
        16, ge=1, le=512, description="candidates considered before diversification (≥ chops)", examples=[16]
    )
    chops: int = Field(8, ge=1, le=128, description="how many chops (pads) to make", examples=[8])
    threshold: float = Field(0.7, ge=0.0, le=1.0, description="candidate probability threshold")
    min_distance: float = Field(0.25, ge=0.0, le=10.0, description="seconds between chops at least")
    max_length: float | None = Field(None, ge=0.01, le=600.0, description="longest slice in seconds (none: no limit)")
    bit_depth: int = Field(
        16, description="WAV bit depth of the slices: 16 or 24", json_schema_extra={"enum": [16, 24]}
    )
    format: Format | None = Field(
        None,
        description="`json` (default) or `zip`; when absent, `Accept: application/zip` asks for the zip",
        examples=["json"],
    )

    @field_validator("max_length", "format", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        """A blank field (an HTML form's empty input) means "not given", like leaving it out."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("bit_depth")
    @classmethod
    def _bit_depth(cls, value: int) -> int:
        if value not in (16, 24):
            raise ValueError("bit_depth must be 16 or 24")
        return value

    def params(self) -> ChopParams:
        """The engine's parameters (raises InvalidParameters, e.g. when top_n < chops)."""
        return ChopParams(
            chops=self.chops,
            top_n=self.top_n,
            diversity=self.diversity,
            threshold=self.threshold,
            min_distance_s=self.min_distance,
            max_length_s=self.max_length,
            bit_depth=self.bit_depth,
        )


class ChopOut(BaseModel):
    index: int = Field(description="1-based, in time order")
    start: float = Field(description="seconds")
    end: float = Field(description="seconds")
    probability: float = Field(description="the model's chop probability around this point, 0…1")
    score: float = Field(description="the probability weighted by the point's place in the bar; ranks candidates")
    rank: int = Field(description="the order diversification chose it in (1 = first)")
    downbeat: bool = Field(False, description="whether the chop starts on a bar line of the decoded grid")
    file: str = Field(description="the slice's name in the zip")


class BeatGrid(BaseModel):
    """The beat grid the chops were placed on."""

    beats: list[float] = Field(default_factory=list, description="tracked beats, seconds from the record's start")
    downbeats: list[float] = Field(
        default_factory=list, description="the beats heard as the first of a bar (a subset of `beats`), seconds"
    )


class ChopDocument(BaseModel):
    """The engine's result document (what `samplechop chop --format json` prints) plus the stored result's id."""

    duration: float = Field(description="seconds")
    sample_rate: int
    channels: int
    model_id: str
    feature_version: str
    params: dict[str, Any]
    candidates: int
    chops: list[ChopOut]
    tempo_bpm: float | None = Field(
        None, description="the record's tempo in beats per minute; null when none was found"
    )
    beats_per_bar: int | None = Field(None, description="beats in a bar (the metre); null when unknown")
    grid: BeatGrid = Field(default_factory=BeatGrid, description="the tracked beats and downbeats (empty when none)")
    id: str = Field(description="the stored result's id")
    zip_url: str = Field(description="where to fetch the zip again, until it expires")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    model_id: str
    feature_version: str


CHOP_DOCUMENT_EXAMPLE: dict[str, Any] = {
    "duration": 6.0,
    "sample_rate": 44100,
    "channels": 2,
    "model_id": "default",
    "feature_version": "1",
    "params": {
        "chops": 4,
        "top_n": 16,
        "threshold": 0.7,
        "min_distance_s": 0.25,
        "max_length_s": None,
        "bit_depth": 16,
        "lambda": 0.999,
    },
    "candidates": 11,
    "chops": [
        {
            "index": 1,
            "start": 0.0,
            "end": 1.001451,
            "probability": 0.981,
            "score": 0.981,
            "rank": 1,
            "downbeat": True,
            "file": "chop_01.wav",
        },
        {
            "index": 2,
            "start": 1.001451,
            "end": 2.499864,
            "probability": 0.944,
            "score": 0.944,
            "rank": 3,
            "downbeat": False,
            "file": "chop_02.wav",
        },
        {
            "index": 3,
            "start": 2.499864,
            "end": 4.000998,
            "probability": 0.962,
            "score": 0.962,
            "rank": 2,
            "downbeat": False,
            "file": "chop_03.wav",
        },
        {
            "index": 4,
            "start": 4.000998,
            "end": 6.0,
            "probability": 0.873,
            "score": 0.873,
            "rank": 4,
            "downbeat": True,
            "file": "chop_04.wav",
        },
    ],
    "tempo_bpm": 120.0,
    "beats_per_bar": 4,
    "grid": {
        "beats": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5],
        "downbeats": [0.0, 2.0, 4.0],
    },
    "id": "3q2-7wEjXyQ0G8dVvB1Ylw",
    "zip_url": "/chops/3q2-7wEjXyQ0G8dVvB1Ylw.zip",
}
