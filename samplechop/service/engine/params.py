"""What a caller may ask of a chop: :class:`ChopParams`, defined once with every parameter's name, default,
bounds and help in :mod:`samplechop.service.parameters` (a module without numpy, so the command line's help loads fast)
and re-exported here for the engine's callers."""

from __future__ import annotations

from samplechop.service.parameters import (
    BAR_CHOICES,
    BY_NAME,
    EXPORTS,
    MODES,
    PARAMETERS,
    SNAPS,
    ChopParams,
    InvalidParameters,
    Parameter,
    parse_points,
)

__all__ = [
    "BAR_CHOICES",
    "BY_NAME",
    "EXPORTS",
    "MODES",
    "PARAMETERS",
    "SNAPS",
    "ChopParams",
    "InvalidParameters",
    "Parameter",
    "parse_points",
]
