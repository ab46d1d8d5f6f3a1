"""What a caller may ask of a chop, with the defaults of the original sampleChop."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class InvalidParameters(ValueError):
    """A chop parameter is out of range; the message names it."""


@dataclass(frozen=True)
class ChopParams:
    """Chop parameters. Times are seconds; ``diversity`` is the MAD lambda (0 = by probability only)."""

    chops: int = 8
    top_n: int = 16
    diversity: float = 0.999
    threshold: float = 0.7
    min_distance_s: float = 0.25
    max_length_s: float | None = None
    bit_depth: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.chops <= 128:
            raise InvalidParameters("chops must be between 1 and 128")
        if not 1 <= self.top_n <= 512:
            raise InvalidParameters("top_n must be between 1 and 512")
        if self.top_n < self.chops:
            raise InvalidParameters("top_n must be at least chops")
        if not 0.0 <= self.diversity <= 1.0:
            raise InvalidParameters("lambda must be between 0 and 1")
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidParameters("threshold must be between 0 and 1")
        if not 0.0 <= self.min_distance_s <= 10.0:
            raise InvalidParameters("min_distance must be between 0 and 10 seconds")
        if self.max_length_s is not None and not 0.01 <= self.max_length_s <= 600.0:
            raise InvalidParameters("max_length must be between 0.01 and 600 seconds")
        if self.bit_depth not in (16, 24):
            raise InvalidParameters("bit_depth must be 16 or 24")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["lambda"] = values.pop("diversity")
        return values
