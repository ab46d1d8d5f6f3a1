"""Run systems over dev records, score them record by record, and summarise per data group and split.

Every figure in a table is a mean over records with a bootstrap 95 % interval over those records. Diversity is
relative, record by record, to a reference system's diversity on the same record (by default sampleChop's own
top-K by score, λ = 0) and to random points; the ratio's mean over records is the figure.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.eval.data import HOP_LENGTH, SAMPLE_RATE_HZ, SPLITS, DevRecord
from bench.eval.metrics import (
    ACC1_FACTORS,
    ACC2_FACTORS,
    BEAT_TOLERANCE_S,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    ONSET_TOLERANCE_S,
    Interval,
    beat_f_measure,
    bootstrap_mean,
    chroma_diversity,
    precision_at,
    record_chroma,
    segment_chroma,
    tempo_correct,
)
from bench.eval.systems import SystemEntry, SystemOutput

# Table columns: metric key → header. "diversity" (absolute) is kept per record in the JSON only: its scale
# means nothing across records, the ratios do.
COLUMNS: dict[str, str] = {
    "beat_f": "beat F",
    "downbeat_f": "downbeat F",
    "p_beat": "P@beat",
    "p_downbeat": "P@downbeat",
    "p_onset": "P@onset",
    "diversity_vs_reference": "diversity ×ref",
    "diversity_vs_random": "diversity ×random",
    "tempo_acc1": "tempo acc1",
    "tempo_acc2": "tempo acc2",
}
RATIO_METRICS = ("diversity_vs_reference", "diversity_vs_random")
DEFAULT_REFERENCE = "samplechop-lambda0"
RANDOM_REFERENCE = "random"

Metrics = dict[str, float | None]


@dataclass
class RecordResult:
    """One system on one record: its figures (None where they do not apply), or the error it raised."""

    record: str
    group: str
    split: str | None
    system: str
    metrics: Metrics = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "record": self.record,
            "group": self.group,
            "split": self.split,
            "system": self.system,
            "metrics": {k: (None if v is None else round(v, 6)) for k, v in self.metrics.items()},
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def chroma_of(record: DevRecord) -> np.ndarray:
    return record.cached("chroma", lambda: record_chroma(record.audio, SAMPLE_RATE_HZ, HOP_LENGTH))


def score_output(record: DevRecord, output: SystemOutput) -> Metrics:
    """Every per-record figure one output allows; None where the system or the annotation has nothing."""
    metrics: Metrics = dict.fromkeys((*COLUMNS, "diversity"))
    if output.beats_s is not None and record.beats_s.size:
        metrics["beat_f"] = beat_f_measure(record.beats_s, output.beats_s)
    if output.downbeats_s is not None and record.downbeats_s is not None and record.downbeats_s.size:
        metrics["downbeat_f"] = beat_f_measure(record.downbeats_s, output.downbeats_s)
    if output.chops_s is not None:
        chops = np.sort(np.asarray(output.chops_s, dtype=np.float64).reshape(-1))
        metrics["p_beat"] = precision_at(chops, record.beats_s, BEAT_TOLERANCE_S)
        if record.downbeats_s is not None:
            metrics["p_downbeat"] = precision_at(chops, record.downbeats_s, BEAT_TOLERANCE_S)
        if record.onsets_s is not None:
            metrics["p_onset"] = precision_at(chops, record.onsets_s, ONSET_TOLERANCE_S)
        if chops.size >= 2:
            metrics["diversity"] = chroma_diversity(
                segment_chroma(chroma_of(record), chops, SAMPLE_RATE_HZ / HOP_LENGTH)
            )
    if output.tempo_bpm is not None and record.tempo_bpm is not None:
        metrics["tempo_acc1"] = float(tempo_correct(output.tempo_bpm, record.tempo_bpm, ACC1_FACTORS))
        metrics["tempo_acc2"] = float(tempo_correct(output.tempo_bpm, record.tempo_bpm, ACC2_FACTORS))
    return metrics


def mean_metrics(runs: Sequence[Metrics]) -> Metrics:
    """Per metric, the mean over the runs that have it (a stochastic system's seeds)."""
    merged: Metrics = {}
    for key in runs[0]:
        values = [run[key] for run in runs if run[key] is not None]
        merged[key] = float(np.mean(values)) if values else None
    return merged


def run_system(entry: SystemEntry, record: DevRecord) -> RecordResult:
    result = RecordResult(record.key, record.group, record.split, entry.name)
    started = time.perf_counter()
    try:
        produced = entry.run(record)
        outputs = [produced] if isinstance(produced, SystemOutput) else list(produced)
        if not outputs:
            raise ValueError("the system returned no output")
        result.metrics = mean_metrics([score_output(record, output) for output in outputs])
    except Exception as error:  # a failing system is a row's failure, reported, never the whole bench's
        last = traceback.extract_tb(error.__traceback__)[-1]
        result.error = f"{type(error).__name__}: {error} ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
    result.seconds = time.perf_counter() - started
    return result


def add_ratios(results: list[RecordResult], reference: str, random_reference: str) -> None:
    """Diversity of each system on one record over the reference's and over random points' on the same record."""
    by_system = {result.system: result for result in results}
    for key, name in (("diversity_vs_reference", reference), ("diversity_vs_random", random_reference)):
        base = by_system.get(name)
        base_value = base.metrics.get("diversity") if base is not None else None
        for result in results:
            value = result.metrics.get("diversity")
            if result.error is None:
                ok = value is not None and base_value is not None and base_value > 0
                result.metrics[key] = value / base_value if ok else None


@dataclass
class Evaluation:
    results: list[RecordResult]
    seconds_by_system: dict[str, float]
    seconds_decoding: float
    seconds_total: float


def evaluate(
    records: Sequence[DevRecord],
    entries: Sequence[SystemEntry],
    *,
    reference: str = DEFAULT_REFERENCE,
    random_reference: str = RANDOM_REFERENCE,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Run every system on every record (records outer, so each is decoded once and released after)."""
    started = time.perf_counter()
    results: list[RecordResult] = []
    seconds = dict.fromkeys((entry.name for entry in entries), 0.0)
    decoding = 0.0
    for number, record in enumerate(records, start=1):
        tick = time.perf_counter()
        chroma_of(record)  # decode and the shared chroma, timed apart from the systems
        decoding += time.perf_counter() - tick
        batch = [run_system(entry, record) for entry in entries]
        add_ratios(batch, reference, random_reference)
        for result in batch:
            seconds[result.system] += result.seconds
        results += batch
        record.release()
        if progress:
            failed = [r.system for r in batch if r.error]
            note = f"  failed: {', '.join(failed)}" if failed else ""
            progress(f"[{number}/{len(records)}] {record.key} {time.perf_counter() - tick:.1f} s{note}")
    return Evaluation(results, seconds, decoding, time.perf_counter() - started)


# ---- summaries ------------------------------------------------------------------------------------------------


@dataclass
class Table:
    """One data group and split: per system, per metric, the mean and its interval (None: not applicable)."""

    group: str
    split: str
    records: list[str]
    rows: dict[str, dict[str, Interval | None]]
    failures: dict[str, list[str]]

    @property
    def title(self) -> str:
        split = "not in SPLIT.tsv" if self.split == "none" else self.split
        return f"{self.group} · {split} ({len(self.records)} records)"

    def to_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "split": self.split,
            "records": self.records,
            "rows": {
                system: {k: (v.to_dict() if v else None) for k, v in row.items()} for system, row in self.rows.items()
            },
            "failures": self.failures,
        }


def summarise(
    results: Iterable[RecordResult],
    group: str,
    split: str,
    systems: Sequence[str],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Table:
    """The table of ``group`` on ``split`` ("tune", "report", "all" for both, "none" for unsplit records)."""
    wanted = set(SPLITS) if split == "all" else {None if split == "none" else split}
    chosen = [r for r in results if r.group == group and r.split in wanted]
    records = sorted({r.record for r in chosen})
    rows: dict[str, dict[str, Interval | None]] = {}
    failures: dict[str, list[str]] = {}
    for system in systems:
        mine = [r for r in chosen if r.system == system]
        failures[system] = sorted(f"{r.record}: {r.error}" for r in mine if r.error)
        rows[system] = {
            key: bootstrap_mean(
                np.asarray([r.metrics[key] for r in mine if r.error is None and r.metrics.get(key) is not None]),
                resamples,
                seed,
            )
            for key in COLUMNS
        }
    return Table(group, split, records, rows, failures)


def format_cell(key: str, interval: Interval | None) -> str:
    if interval is None:
        return "—"
    if key in RATIO_METRICS:
        return f"{interval.mean:.2f}× ({interval.low:.2f}–{interval.high:.2f})"
    return f"{interval.mean:.3f} ({interval.low:.2f}–{interval.high:.2f})"


def markdown(table: Table, columns: Sequence[str] | None = None) -> str:
    """The table as markdown: only the columns some row has a figure for; failures as notes under it."""
    keys = [k for k in (columns or COLUMNS) if any(row.get(k) for row in table.rows.values())]
    lines = [
        f"**{table.title}**",
        "",
        "| system | " + " | ".join(COLUMNS[k] for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for system, row in table.rows.items():
        lines.append(f"| {system} | " + " | ".join(format_cell(k, row.get(k)) for k in keys) + " |")
    for system, errors in table.failures.items():
        if errors:
            lines.append(f"\n{system} failed on {len(errors)} records (left out of its figures): {errors[0]}")
    return "\n".join(lines)


# ---- the gate -------------------------------------------------------------------------------------------------


def gate(
    results: Iterable[RecordResult],
    system: str,
    thresholds: dict[str, float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[bool, list[str]]:
    """Whether ``system`` meets every minimum in ``thresholds`` (metric key → minimum mean) on the report split,
    all report records pooled; one line per check. A failure on any report record fails the gate."""
    mine = [r for r in results if r.split == "report" and r.system == system]
    if not mine:
        return False, [f"gate: no results of {system!r} on the report split"]
    lines: list[str] = []
    passed = True
    errors = [f"{r.record}: {r.error}" for r in mine if r.error]
    if errors:
        passed = False
        lines.append(f"gate: FAIL — {system} failed on {len(errors)} report records, e.g. {errors[0]}")
    for key, minimum in thresholds.items():
        values = np.asarray([r.metrics[key] for r in mine if r.error is None and r.metrics.get(key) is not None])
        interval = bootstrap_mean(values, resamples, seed)
        if interval is None:
            passed = False
            lines.append(f"gate: FAIL — {system} has no {COLUMNS[key]} on the report split (minimum {minimum:g})")
            continue
        ok = interval.mean >= minimum
        passed &= ok
        lines.append(
            f"gate: {'pass' if ok else 'FAIL'} — {COLUMNS[key]} {format_cell(key, interval)} "
            f"{'≥' if ok else '<'} {minimum:g} over {interval.n} report records"
        )
    return passed, lines
