"""Request options and the documented shapes of the service's answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic.fields import FieldInfo

from samplechop.service.parameters import (
    MAX_POINTS_CHARS,
    PARAMETERS,
    POINTS_PATTERN,
    ChopParams,
    Parameter,
    parse_points,
)

Format = Literal["json", "zip"]
# Fields where a blank value (an HTML form's empty input) means "not given", like leaving the field out: those
# that may be absent (their default is None: the engine chooses) and the response format.
BLANK_IS_ABSENT = {*(p.name for p in PARAMETERS if p.nullable), "format"}
# The JSON schema of `points`: blank (only spaces: absent) or the parser's own pattern (samplechop.service.parameters),
# so a client's validator accepts exactly what the service does.
POINTS_SCHEMA_PATTERN = f"^ *$|{POINTS_PATTERN}"


def _option(parameter: Parameter) -> tuple[Any, FieldInfo]:
    """The pydantic (type, field) of one chop parameter, from its row of the parameter table."""
    description = parameter.help
    if parameter.nullable and parameter.none_means:
        description += f" (absent: {parameter.none_means})"
    extra: dict[str, Any] = {}
    bounds: dict[str, Any] = {}
    kind: Any
    if parameter.kind == "points":
        kind = str
        bounds["max_length"] = MAX_POINTS_CHARS
        extra["pattern"] = POINTS_SCHEMA_PATTERN  # documented; enforced (with clear messages) by the validator
    elif parameter.choices is not None and parameter.integer_choices:
        # A form field is text: an int Literal would refuse "24"; an int with the choices as its enum takes it.
        kind = int
        extra["enum"] = list(parameter.choices)
    elif parameter.choices is not None:
        kind = Literal[parameter.choices]
    else:
        kind = int if parameter.kind == "int" else float
        if parameter.minimum is not None:
            bounds["gt" if parameter.exclusive_minimum else "ge"] = parameter.minimum
        if parameter.maximum is not None:
            bounds["le"] = parameter.maximum
    if parameter.nullable:
        kind = kind | None
    if parameter.example is not None:
        bounds["examples"] = [parameter.example]
    info = Field(
        parameter.default,
        alias=parameter.name if parameter.name != parameter.attribute else None,
        description=description,
        json_schema_extra=extra or None,
        **bounds,
    )
    return kind, info


class _OptionsBase(BaseModel):
    """Chop parameters, as query parameters or form fields beside the file (a form field wins)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, values: Any) -> Any:
        """A blank optional field (an HTML form's empty input) means "not given", like leaving it out."""
        if not isinstance(values, dict):
            return values
        return {
            name: value
            for name, value in values.items()
            if not (name in BLANK_IS_ABSENT and isinstance(value, str) and not value.strip(" "))
        }

    @field_validator(*(p.attribute for p in PARAMETERS if p.integer_choices), check_fields=False)
    @classmethod
    def _one_of_the_choices(cls, value: int | None, info: Any) -> int | None:
        parameter = next(p for p in PARAMETERS if p.attribute == info.field_name)
        if value is not None and parameter.choices is not None and value not in parameter.choices:
            raise ValueError(f"{parameter.name} must be {parameter.bounds_text()}")
        return value

    @field_validator("points", check_fields=False)
    @classmethod
    def _points(cls, value: str | None) -> str | None:
        if value is not None:
            parse_points(value)  # InvalidParameters is a ValueError: pydantic reports its message
        return value

    def params(self) -> ChopParams:
        """The engine's parameters (raises InvalidParameters, e.g. when top_n < chops)."""
        values = {p.attribute: getattr(self, p.attribute) for p in PARAMETERS}
        if values["points"] is not None:
            values["points"] = parse_points(values["points"])
        return ChopParams(**values)


ChopOptions: type[_OptionsBase] = create_model(
    "ChopOptions",
    __base__=_OptionsBase,
    __doc__=_OptionsBase.__doc__,
    **{p.attribute: _option(p) for p in PARAMETERS},  # type: ignore[call-overload]
    format=(
        Format | None,
        Field(
            None,
            description="`json` (default) or `zip`; when absent, `Accept: application/zip` asks for the zip",
            examples=["json"],
        ),
    ),
)


class KeyOut(BaseModel):
    """A key estimate: the Krumhansl–Schmuckler method with Temperley's profiles on the tonal-weighted chroma."""

    tonic: str = Field(description="C, C#, D, … B (sharps)", examples=["A"])
    mode: Literal["major", "minor"]
    confidence: float = Field(
        description="margin of the best key's correlation over the second best, 0…2: near 0 the two fit equally "
        "(often the relative major and minor), above ~0.1 one clearly wins"
    )
    correlation: float = Field(description="the best key's correlation with the pitch-class profile, −1…1")


class RecordKeyOut(KeyOut):
    method: str = Field(description="how the key was estimated")


class ChopOut(BaseModel):
    index: int = Field(description="1-based, in time order (pad 1 first)")
    start: float = Field(description="seconds; the slice's first sample is round(start × sample_rate)")
    end: float = Field(description="seconds (exclusive)")
    attack: float = Field(description="seconds: the hit the slice starts with (start is a few ms before it)")
    # Not renamed (clients read it), but not a probability: the engine's `Chop.chop_activation`, the most the chop
    # head says within the candidate snap radius (samplechop.service.engine.pipeline.SNAP_RADIUS_S, 35 ms). The head
    # is trained with its positives weighted 10× (samplechop/trainer/network.py), so it is not calibrated.
    probability: float = Field(
        description="the chop head's activation (the network's per-frame chop-point output, 0…1) at its maximum "
        "within ±35 ms of the point this chop came from: a hand-placed point (after `snap`), or a model candidate "
        "snapped to its onset (in `bars` mode, before it moved to its downbeat); `start` is that point or a few ms "
        "before the attack found near it. A model output, not a calibrated probability"
    )
    score: float = Field(description="how candidates were ranked (downbeats first); a hand-placed point's activation")
    rank: int = Field(description="the order diversification chose it in (1 = first); a hand-placed point's order")
    downbeat: bool = Field(False, description="whether the chop's attack is on a bar line of the decoded grid")
    mode: Literal["to-next", "bars", "beats", "one-shot"] = Field(
        description="the length mode applied (bars and beats fall back to to-next without a beat grid)"
    )
    loop: bool = Field(description="the slice is a whole number of bars or beats: it loops in time")
    bars: int | None = Field(None, description="the slice's length in bars (bars mode)")
    beats: float | None = Field(None, description="the slice's length in beats at its tempo; null without a grid")
    tempo_bpm: float | None = Field(None, description="the tempo fitted to the grid around the slice")
    note: int = Field(description="the MIDI note its pad plays in the SFZ, MPC program and MIDI file")
    key: KeyOut | None = Field(
        None, description="the slice's own key estimate; null when it holds too little tonal material (drums)"
    )
    file: str = Field(description="the slice's name in the zip: <record>_NN.wav")


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
    slug: str = Field(description="the record's name as its files are named (`vibe-ace` → `vibe-ace_01.wav`)")
    params: dict[str, Any]
    candidates: int = Field(description="candidates considered (the number of points when placed by hand)")
    chops: list[ChopOut]
    exports: list[str] = Field(default_factory=list, description="the sampler programs in the zip")
    tempo_bpm: float | None = Field(
        None, description="the record's tempo in beats per minute; null when none was found"
    )
    beats_per_bar: int | None = Field(None, description="beats in a bar (the metre); null when unknown")
    key: RecordKeyOut | None = Field(None, description="the record's key; null when it has too little tonal material")
    grid: BeatGrid = Field(default_factory=BeatGrid, description="the tracked beats and downbeats (empty when none)")
    id: str = Field(description="the stored result's id")
    zip_url: str = Field(description="where to fetch the zip again, until it expires")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    model_id: str
    feature_version: str
