"""Every chop parameter, defined once: its public name, default, bounds, unit and help text.

:class:`ChopParams` is the one definition. Each of its fields carries a :class:`Parameter` (``dataclasses`` field
metadata), and everything else is derived from the table :data:`PARAMETERS` those fields make:

- the engine's validation (``ChopParams.__post_init__``: every field checked against its bounds or choices, then
  the rules between fields);
- the HTTP API's request model (``samplechop.service.api.schemas.ChopOptions``, a pydantic model built field by field
  from the table, so the OpenAPI document follows);
- the command line's options (``samplechop.service.cli``: ``--name`` per parameter, its help text with the unit and
  default, and the same parser from text, :meth:`Parameter.parse`).

A parameter's **public name** (``lambda``, ``min_distance``, ``one_shot_max``) is the same on every surface: the API
field or query parameter, the CLI option (underscores as dashes: ``--min-distance``) and the docs. The attribute
carries the unit (``min_distance_s``), and the result document's ``params`` echo uses the attribute name, except
the MAD weight, which is ``lambda`` everywhere people see it (``diversity`` only inside the engine).

This module imports nothing beyond the standard library, so ``samplechop --help`` and argument errors answer
without loading numpy or onnxruntime. The engine's own constants that some defaults repeat (slicing's one-shot cap,
the loop crossfade, the exports' root note, the length modes and bar counts) are checked against these by
``tests/test_engine.py``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

Kind = Literal["int", "float", "choice", "points"]

# Chops and hand-placed points: at most 128, the pads of an MPC drum program (and MIDI notes from 0).
MAX_CHOPS = 128
# A hand-placed point is a time in a record; records are at most SAMPLECHOP_MAX_DURATION_S long (600 s by default,
# an operator may allow more): a day bounds the text without limiting any real record.
MAX_POINT_S = 86_400.0
# Points as text: decimal seconds separated by commas, spaces allowed around them (no exponents, signs or `inf`:
# the JSON schema's pattern and the parser accept exactly the same strings).
POINTS_PATTERN = r"^ *[0-9]{1,5}(\.[0-9]{1,9})? *(, *[0-9]{1,5}(\.[0-9]{1,9})? *)*$"
# 128 points written with six decimals ("599.123456,") take 11 characters each; 2048 leaves room for hours.
MAX_POINTS_CHARS = 2048
# The length modes (samplechop.service.engine.slicing.LengthMode) and the bar counts a `bars` chop may have.
MODES = ("to-next", "bars", "beats", "one-shot")
BAR_CHOICES = (1, 2, 4)
# What the zip (and `--out`) holds beside the WAV slices and chops.json: `zip`, every sampler program; or one of
# them. The web page reads these names from the OpenAPI document.
EXPORTS = ("zip", "sfz", "xpm", "midi")
SNAPS = ("grid", "onset", "off")

_INT = re.compile(r"[+-]?[0-9]+")
_T = TypeVar("_T")


class InvalidParameters(ValueError):
    """A chop parameter is out of range; the message names it (with its public name)."""


@dataclass(frozen=True)
class Parameter:
    """One chop parameter as every surface shows it.

    ``name`` is the public name; ``attribute`` the :class:`ChopParams` field. ``kind``: ``int``/``float`` (within
    ``minimum``..``maximum``; ``exclusive_minimum`` makes the lower bound strict), ``choice`` (one of ``choices``,
    all ints or all strings) or ``points`` (comma-separated seconds). ``nullable`` parameters may be left out:
    ``none_means`` says what that does. ``unit`` is for people (``s``, ``bits``), ``example`` for the OpenAPI
    document."""

    name: str
    attribute: str
    kind: Kind
    default: Any
    help: str
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[int | str, ...] | None = None
    nullable: bool = False
    none_means: str | None = None
    example: Any = None

    @property
    def cli_flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def document_key(self) -> str:
        """The key in the result document's ``params``: the attribute, but ``lambda`` for the MAD weight."""
        return "lambda" if self.name == "lambda" else self.attribute

    @property
    def integer_choices(self) -> bool:
        return self.choices is not None and all(isinstance(choice, int) for choice in self.choices)

    def bounds_text(self) -> str:
        """``between 1 and 128``, ``more than 0 and at most 64`` (with the unit), or ``one of 16, 24``."""
        if self.choices is not None:
            return "one of " + ", ".join(str(choice) for choice in self.choices)
        unit = {"s": " seconds"}.get(self.unit or "", "")
        low, high = _number(self.minimum), _number(self.maximum)
        if self.exclusive_minimum:
            return f"more than {low} and at most {high}{unit}"
        return f"between {low} and {high}{unit}"

    def help_text(self) -> str:
        """The help line of the CLI: the help, its range, and its default."""
        if self.default is None:
            default = self.none_means or "none"
        else:
            default = str(self.default) + (f" {self.unit}" if self.unit == "s" else "")
        # (choices are in the option's metavar: `--mode {to-next,bars,beats,one-shot}`)
        extra = "" if self.kind == "points" or self.choices is not None else f"; {self.bounds_text()}"
        return f"{self.help}{extra} (default: {default})"

    def check(self, value: Any) -> None:
        """Raise :class:`InvalidParameters` unless ``value`` is allowed."""
        if value is None:
            if not self.nullable:
                raise InvalidParameters(f"{self.name} must be given")
            return
        if self.kind == "points":
            check_points(value)
            return
        if isinstance(value, bool):  # a bool is an int to Python, never to a person
            raise InvalidParameters(f"{self.name} must be {self.bounds_text()}, got {value!r}")
        if self.choices is not None:
            if value not in self.choices or type(value) is not type(self.choices[0]):
                raise InvalidParameters(f"{self.name} must be {self.bounds_text()}, got {value!r}")
            return
        if self.kind == "int" and not isinstance(value, int):
            raise InvalidParameters(f"{self.name} must be a whole number, got {value!r}")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidParameters(f"{self.name} must be a number, got {value!r}")
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        if (value <= low if self.exclusive_minimum else value < low) or value > high:
            raise InvalidParameters(f"{self.name} must be {self.bounds_text()}")

    def parse(self, text: str) -> Any:
        """The value written as ``text`` (a CLI argument, a form field); InvalidParameters when it is not one."""
        text = text.strip()
        if self.kind == "points":
            return parse_points(text)
        if self.kind == "int" or self.integer_choices:
            if not _INT.fullmatch(text):
                raise InvalidParameters(f"{self.name} must be a whole number, got {text!r}")
            return int(text)
        if self.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise InvalidParameters(f"{self.name} must be a number, got {text!r}") from None
            if not math.isfinite(value):
                raise InvalidParameters(f"{self.name} must be a number, got {text!r}")
            return value
        return text


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def parse_points(text: str) -> tuple[float, ...]:
    """``"0.5, 1.25,3"`` → ``(0.5, 1.25, 3.0)``: seconds, checked by :func:`check_points`."""
    if len(text) > MAX_POINTS_CHARS or not re.fullmatch(POINTS_PATTERN, text):
        raise InvalidParameters(
            "points must be seconds separated by commas, e.g. 0.5,1.25,3.0 "
            f"(plain decimals, at most {MAX_POINTS_CHARS} characters)"
        )
    points = tuple(float(part) for part in text.split(","))
    check_points(points)
    return points


def check_points(points: Any) -> None:
    """Hand-placed points: 1 to :data:`MAX_CHOPS` finite, non-negative seconds in increasing order, none twice.
    (Whether they lie inside the record is checked once it is decoded.)"""
    if not isinstance(points, tuple) or not points:
        raise InvalidParameters("points must hold at least one time in seconds")
    if len(points) > MAX_CHOPS:
        raise InvalidParameters(f"points: at most {MAX_CHOPS} chops, got {len(points)}")
    for point in points:
        if isinstance(point, bool) or not isinstance(point, (int, float)) or not math.isfinite(point):
            raise InvalidParameters(f"points must be numbers of seconds, got {point!r}")
        if not 0.0 <= point <= MAX_POINT_S:
            raise InvalidParameters(f"points must be between 0 and {MAX_POINT_S:g} seconds, got {point:g}")
    for earlier, later in itertools.pairwise(points):
        if later == earlier:
            raise InvalidParameters(f"points must not repeat: {later:.6f} s is given twice")
        if later < earlier:
            raise InvalidParameters(f"points must be in increasing order: {later:.6f} s comes after {earlier:.6f} s")


def _parameter(default: _T, kind: Kind, help: str, **details: Any) -> _T:
    """A :class:`ChopParams` field carrying its :class:`Parameter` (name, bounds, help) as metadata."""
    # field() is typed as returning the default's type; at run time it is the Field that @dataclass reads.
    made: _T = field(default=default, metadata={"parameter": {"kind": kind, "help": help, **details}})
    return made


@dataclass(frozen=True)
class ChopParams:
    """What a caller may ask of a chop. Times are seconds; ``diversity`` is the MAD weight λ (public name
    ``lambda``: 0 = by score only). ``points`` replaces the model's choice of chops with times given by hand."""

    chops: int = _parameter(8, "int", "how many chops (pads) to make", minimum=1, maximum=MAX_CHOPS, example=8)
    top_n: int = _parameter(
        16, "int", "candidates considered before diversification (at least chops)", minimum=1, maximum=512, example=16
    )
    diversity: float = _parameter(
        0.999,
        "float",
        "diversity weight λ of Maximal Average Diversification: 0 picks chops by score only, near 1 the most "
        "varied material",
        name="lambda",
        minimum=0.0,
        maximum=1.0,
        example=0.999,
    )
    threshold: float = _parameter(
        0.7,
        "float",
        "chop activation a model candidate must reach (weaker peaks fill up when too few do)",
        minimum=0.0,
        maximum=1.0,
    )
    min_distance_s: float = _parameter(
        0.25, "float", "seconds between chops at least", name="min_distance", unit="s", minimum=0.0, maximum=10.0
    )
    max_length_s: float | None = _parameter(
        None,
        "float",
        "longest slice in seconds; caps every length mode",
        name="max_length",
        unit="s",
        minimum=0.01,
        maximum=600.0,
        nullable=True,
        none_means="no limit",
    )
    bit_depth: int = _parameter(
        16,
        "choice",
        "bit depth of the WAV slices (at the record's own rate and channels)",
        unit="bits",
        choices=(16, 24),
    )
    mode: str = _parameter(
        "to-next",
        "choice",
        "slice length: to-next runs to the next chop, bars a whole number of bars on the decoded grid (loops in "
        "time), beats a number of beats, one-shot to just before the next strong hit",
        choices=MODES,
        example="bars",
    )
    bars: int | None = _parameter(
        None,
        "choice",
        "bars per chop in bars mode",
        unit="bars",
        choices=BAR_CHOICES,
        nullable=True,
        none_means="for each chop the most of 4, 2, 1 that fit before the next chop",
    )
    beats: float = _parameter(
        1.0,
        "float",
        "beats per chop in beats mode (0.25 is a sixteenth note in 4/4)",
        unit="beats",
        minimum=0.0,
        exclusive_minimum=True,
        maximum=64.0,
    )
    one_shot_max_s: float = _parameter(
        2.0, "float", "longest one-shot in seconds", name="one_shot_max", unit="s", minimum=0.05, maximum=30.0
    )
    loop_crossfade_s: float = _parameter(
        0.010,
        "float",
        "crossfade at the seam of loop slices (bars, beats), in seconds; 0 for plain fades",
        name="loop_crossfade",
        unit="s",
        minimum=0.0,
        maximum=0.5,
    )
    root_note: int = _parameter(
        36, "int", "MIDI note of pad 1 in the sampler programs (36 = C1)", unit="MIDI note", minimum=0, maximum=127
    )
    export: str = _parameter(
        "zip",
        "choice",
        "what goes beside the WAV slices and chops.json: zip = every sampler program (SFZ, MPC .xpm, MIDI), or "
        "only sfz, xpm or midi",
        choices=EXPORTS,
    )
    points: tuple[float, ...] | None = _parameter(
        None,
        "points",
        "chop exactly at these times instead of the model's choice: seconds separated by commas",
        unit="s",
        nullable=True,
        none_means="the model chooses",
        example="0.5,2.25,4.0",
    )
    snap: str = _parameter(
        "off",
        "choice",
        "with points: move each to the nearest beat of the decoded grid (grid), to the nearest onset (onset), or "
        "keep it to the sample (off)",
        choices=SNAPS,
    )

    def __post_init__(self) -> None:
        if isinstance(self.points, list):  # a list is taken as the tuple it should be (the dataclass is frozen)
            object.__setattr__(self, "points", tuple(self.points))
        for parameter in PARAMETERS:
            parameter.check(getattr(self, parameter.attribute))
        if self.top_n < self.chops:
            raise InvalidParameters("top_n must be at least chops")

    def to_dict(self) -> dict[str, Any]:
        """The parameters as the result document echoes them (``lambda`` for the MAD weight; points as a list)."""
        values: dict[str, Any] = {}
        for parameter in PARAMETERS:
            value = getattr(self, parameter.attribute)
            values[parameter.document_key] = list(value) if isinstance(value, tuple) else value
        return values

    @classmethod
    def from_text(cls, values: Mapping[str, str | None]) -> ChopParams:
        """Parameters from text by public name (CLI arguments); absent or None values keep their defaults."""
        unknown = set(values) - set(BY_NAME)
        if unknown:
            raise InvalidParameters(f"unknown parameter {sorted(unknown)[0]!r}")
        parsed = {}
        for parameter in PARAMETERS:
            text = values.get(parameter.name)
            if text is not None:
                parsed[parameter.attribute] = parameter.parse(text)
        return cls(**parsed)


def _table() -> tuple[Parameter, ...]:
    table = []
    for item in fields(ChopParams):
        details = dict(item.metadata["parameter"])
        name = details.pop("name", item.name)
        table.append(Parameter(name=name, attribute=item.name, default=item.default, **details))
    return tuple(table)


PARAMETERS: tuple[Parameter, ...] = _table()
BY_NAME: dict[str, Parameter] = {parameter.name: parameter for parameter in PARAMETERS}

__all__ = [
    "BAR_CHOICES",
    "BY_NAME",
    "EXPORTS",
    "MAX_CHOPS",
    "MAX_POINTS_CHARS",
    "MODES",
    "PARAMETERS",
    "POINTS_PATTERN",
    "SNAPS",
    "ChopParams",
    "InvalidParameters",
    "Parameter",
    "check_points",
    "parse_points",
]
