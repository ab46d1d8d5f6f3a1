"""Evaluation machinery for sampleChop on the annotated dev set: data, systems, metrics, tables, the gate.

``bench/quality.py`` is the command line over it. To evaluate a new engine or an ablation, write a
:data:`System` (``DevRecord → SystemOutput``) and pass a :class:`SystemEntry` to :func:`evaluate`.
"""

from bench.eval.data import DevDataError, DevRecord, load_dev, load_split
from bench.eval.evaluate import (
    COLUMNS,
    Evaluation,
    RecordResult,
    Table,
    evaluate,
    gate,
    markdown,
    score_output,
    summarise,
)
from bench.eval.metrics import Interval, beat_f_measure, bootstrap_mean, precision_at, tempo_correct
from bench.eval.systems import (
    ConstantNetwork,
    System,
    SystemEntry,
    SystemOutput,
    default_systems,
    engine_output,
    engine_system,
)

__all__ = [
    "COLUMNS",
    "ConstantNetwork",
    "DevDataError",
    "DevRecord",
    "Evaluation",
    "Interval",
    "RecordResult",
    "System",
    "SystemEntry",
    "SystemOutput",
    "Table",
    "beat_f_measure",
    "bootstrap_mean",
    "default_systems",
    "engine_output",
    "engine_system",
    "evaluate",
    "gate",
    "load_dev",
    "load_split",
    "markdown",
    "precision_at",
    "score_output",
    "summarise",
    "tempo_correct",
]
