"""Speed benchmark: per-stage chopping time at 1, 3, 10 and 30 minutes, and whole `samplechop chop` processes,
both against librosa loading the record and detecting its onsets.

Records are stereo 44.1 kHz 16-bit WAVs of real music: the listen set (``../shared/data/listen``, 8.5 min) played
in order and looped as needed, so the 3-minute record is the same at every run (a synthetic record if the listen
set is missing).

In-process (part 1): one loaded model; each length is chopped ``--repeat`` times after a warm-up chop, and the
baseline (``librosa.load(sr=None, mono=True)`` + ``librosa.onset.onset_detect``) runs as often in the same process,
interleaved with the chops. Figures are medians. The growth column is the time at the longest record over the time
at the shortest, divided by how much longer the record is: 1.0 is linear, above 1 grows faster than the record.

Whole process (part 2): ``samplechop chop RECORD`` as a user runs it (fresh interpreter, imports, model load, chop,
text to stdout) on a 2-s file and on the 3-minute record, paired round by round with a process that only imports
librosa, loads the record and detects onsets; ``--process-runs`` rounds (order alternating), medians of wall time
and of peak resident memory (the child's ru_maxrss).

    python bench/speed.py [--minutes 1 3 10 30] [--repeat 3] [--process-runs 5] [--json speed.json]

Needs the dev install (librosa is the baseline; the chopper itself does not import it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from samplechop.service.engine import ChopModel, ChopParams, Chopper, result_json, zip_bytes  # noqa: E402

LISTEN_DIR = REPO.parent / "shared" / "data" / "listen"
RATE = 44_100
# Stages the engine times itself (ChoppedRecord.result.timings_s), in pipeline order.
ENGINE_STAGES = ("decode", "features", "inference", "beats", "candidates", "diversification")
# The issue-13 targets these figures are read against.
TARGET_JSON_RATIO = 1.0  # in-process JSON result at 3 min ≤ 1.0× librosa load + onset detection
TARGET_SHORT_PROCESS_S = 1.0  # `samplechop chop` on a 2-s file
TARGET_PROCESS_RATIO = 1.0  # `samplechop chop` on 3 min ≤ 1.0× the librosa process
TARGET_PEAK_MB = 300.0
BASELINE_LABEL = "librosa load + onset detect"
BASELINE_CODE = (
    "import sys, librosa\n"
    "audio, rate = librosa.load(sys.argv[1], sr=None, mono=True)\n"
    "librosa.onset.onset_detect(y=audio, sr=rate)\n"
)


# ---- records ---------------------------------------------------------------------------------------------------
def _listen_pool() -> np.ndarray:
    """The listen set at 44.1 kHz, stereo float32, in file-name order (mono files duplicated to two channels)."""
    pieces = []
    for source in sorted(LISTEN_DIR.glob("*.ogg")):
        audio, source_rate = sf.read(source, dtype="float32", always_2d=True)
        if source_rate == RATE:
            pieces.append(audio[:, :2] if audio.shape[1] >= 2 else np.repeat(audio, 2, axis=1))
    if not pieces:
        from tests.synth import beat_record

        return beat_record(120.0, channels=2).audio.astype(np.float32)
    return np.concatenate(pieces)


def write_record(pool: np.ndarray, path: Path, seconds: float, offset_s: float = 0.0) -> Path:
    """``seconds`` of the pool (looped) from ``offset_s``, written one pool-length at a time (bounded memory)."""
    remaining = round(seconds * RATE)
    position = round(offset_s * RATE) % pool.shape[0]
    with sf.SoundFile(path, "w", RATE, 2, subtype="PCM_16") as out:
        while remaining > 0:
            piece = pool[position : position + remaining]
            out.write(piece)
            remaining -= piece.shape[0]
            position = 0
    return path


# ---- part 1: in-process stages -----------------------------------------------------------------------------------
def baseline_in_process(path: Path) -> float:
    import librosa

    started = time.perf_counter()
    audio, rate = librosa.load(path, sr=None, mono=True)
    librosa.onset.onset_detect(y=audio, sr=rate)
    return time.perf_counter() - started


def chop_once(chopper: Chopper, path: Path) -> dict[str, float]:
    started = time.perf_counter()
    record = chopper.chop(path, ChopParams())
    result_json(record)
    json_done = time.perf_counter()
    zip_bytes(record)
    finished = time.perf_counter()
    stages = {name: record.result.timings_s.get(name, 0.0) for name in ENGINE_STAGES}
    total = json_done - started
    stages["cut points + JSON"] = total - sum(stages.values())
    stages["slicing + zip"] = finished - json_done
    stages["JSON result"] = total
    stages["slices + zip"] = finished - started
    record.audio.close()
    return stages


@dataclass
class LengthResult:
    minutes: float
    stages: dict[str, float]  # stage → median seconds
    baseline_s: float  # median librosa load + onset detection


def measure_length(chopper: Chopper, path: Path, minutes: float, repeat: int) -> LengthResult:
    runs, bases = [], []
    for _ in range(repeat):  # interleaved, so a busy moment on the machine hits both
        runs.append(chop_once(chopper, path))
        bases.append(baseline_in_process(path))
    stages = {stage: statistics.median(run[stage] for run in runs) for stage in runs[0]}
    return LengthResult(minutes, stages, statistics.median(bases))


def growth(seconds: Sequence[float], minutes: Sequence[float]) -> list[float]:
    """For each step to the next length: how much the time grew over how much the record grew (1.0 = linear)."""
    return [
        (t1 / t0) / (m1 / m0) if t0 > 0 else float("nan")
        for (t0, t1), (m0, m1) in zip(itertools.pairwise(seconds), itertools.pairwise(minutes), strict=True)
    ]


def print_stages(results: Sequence[LengthResult]) -> None:
    minutes = [r.minutes for r in results]
    head = " | ".join(f"{m:g} min" for m in minutes)
    steps = " / ".join(f"{a:g}→{b:g}" for a, b in itertools.pairwise(minutes))
    print("\n## in-process stages: median seconds (× librosa load + onset detection in the same process)\n")
    print(f"| stage | {head} | growth {steps} (1.0 = linear) |")
    print("|---" * (len(results) + 2) + "|")
    for stage in [*results[0].stages, BASELINE_LABEL]:
        values = [r.baseline_s if stage == BASELINE_LABEL else r.stages[stage] for r in results]
        cells = [f"{value:.3f} ({value / r.baseline_s:.2f}×)" for value, r in zip(values, results, strict=True)]
        label = f"**{stage}**" if stage in ("JSON result", "slices + zip") else stage
        ratios = " / ".join(f"{g:.2f}" for g in growth(values, minutes))
        print(f"| {label} | {' | '.join(cells)} | {ratios} |")


# ---- part 2: whole processes -------------------------------------------------------------------------------------
@dataclass
class ProcessRun:
    wall_s: float
    peak_mb: float


# Runs the measured command as its own child and reports that child's wall time and peak RSS. Linux charges a
# process's ru_maxrss with the memory of whatever it was forked from until it execs, so a child forked straight from
# this benchmark (which holds the 8.5-min pool and a loaded model, ~700 MB) would report that; forked from this
# small launcher instead, the figure is the command's own.
LAUNCHER_CODE = """
import json, os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall_s = time.perf_counter() - started
print(json.dumps({"status": os.waitstatus_to_exitcode(status), "wall_s": wall_s, "maxrss_kib": usage.ru_maxrss}))
"""


def run_process(command: Sequence[str], cwd: Path) -> ProcessRun:
    """Run a command to completion; its wall time and peak resident memory (ru_maxrss of that process alone)."""
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER_CODE, *command], cwd=cwd, stdout=subprocess.PIPE, stderr=errors
        )
        errors.seek(0)
        measured = json.loads(done.stdout.decode().strip().splitlines()[-1]) if done.returncode == 0 else None
        if measured is None or measured["status"] != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {errors.read().decode()[-2000:]}")
    return ProcessRun(measured["wall_s"], measured["maxrss_kib"] / 1024.0)  # ru_maxrss is in KiB on Linux


def samplechop_command() -> list[str]:
    """The installed console script beside this interpreter, as a user runs it; else ``python -m
    samplechop.service.cli``."""
    script = Path(sys.executable).with_name("samplechop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "samplechop.service.cli"]


@dataclass
class PairedResult:
    label: str
    chop: list[ProcessRun]
    baseline: list[ProcessRun]

    @staticmethod
    def _median(runs: list[ProcessRun], field: str) -> float:
        return statistics.median(getattr(run, field) for run in runs)

    def summary(self) -> dict[str, float]:
        chop_s, base_s = self._median(self.chop, "wall_s"), self._median(self.baseline, "wall_s")
        return {
            "chop_s": chop_s,
            "chop_peak_mb": self._median(self.chop, "peak_mb"),
            "baseline_s": base_s,
            "baseline_peak_mb": self._median(self.baseline, "peak_mb"),
            "ratio": chop_s / base_s,
            "paired_ratio": statistics.median(
                chop.wall_s / base.wall_s for chop, base in zip(self.chop, self.baseline, strict=True)
            ),
        }


def paired_processes(label: str, chop_args: Sequence[str], record: Path, rounds: int, cwd: Path) -> PairedResult:
    chop_command = [*samplechop_command(), "chop", str(record), *chop_args]
    base_command = [sys.executable, "-c", BASELINE_CODE, str(record)]
    result = PairedResult(label, [], [])
    for index in range(rounds):
        # Alternate which goes first, so neither always inherits the other's warm page cache or CPU boost.
        if index % 2 == 0:
            result.chop.append(run_process(chop_command, cwd))
            result.baseline.append(run_process(base_command, cwd))
        else:
            result.baseline.append(run_process(base_command, cwd))
            result.chop.append(run_process(chop_command, cwd))
    return result


def print_processes(results: Sequence[PairedResult], rounds: int) -> None:
    print(f"\n## whole processes: medians of {rounds} paired runs\n")
    print("| command | samplechop s | peak MB | librosa process s | peak MB | ratio | paired ratio |")
    print("|---|---|---|---|---|---|---|")
    for result in results:
        s = result.summary()
        print(
            f"| {result.label} | {s['chop_s']:.2f} | {s['chop_peak_mb']:.0f} | {s['baseline_s']:.2f} | "
            f"{s['baseline_peak_mb']:.0f} | {s['ratio']:.2f}× | {s['paired_ratio']:.2f}× |"
        )


# ---- main --------------------------------------------------------------------------------------------------------
def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def in_process_part(records: dict[float, Path], repeat: int) -> list[LengthResult]:
    # No duration or size limit here: the 30-min record is past the service's 10-min default on purpose.
    chopper = Chopper(ChopModel(), max_samples=2**62)
    first = records[min(records)]
    chop_once(chopper, first)  # warm-up: onnxruntime allocates, the page cache fills
    baseline_in_process(first)  # warm-up: numba compiles (or loads) librosa's kernels
    lengths = []
    for minutes, path in sorted(records.items()):
        lengths.append(measure_length(chopper, path, minutes, repeat))
        print(f"  {minutes:g} min: JSON result {lengths[-1].stages['JSON result']:.3f} s", file=sys.stderr)
    print(f"\n# speed: stereo 44.1 kHz 16-bit WAV of real music, {os.cpu_count()} cores, median of {repeat}")
    print_stages(lengths)
    at_3 = next((r for r in lengths if r.minutes == 3.0), None)
    if at_3 is not None:
        ratio = at_3.stages["JSON result"] / at_3.baseline_s
        print(
            f"\nJSON result at 3 min: {at_3.stages['JSON result']:.3f} s = {ratio:.2f}× librosa load + onset "
            f"detection (target ≤ {TARGET_JSON_RATIO:.1f}×: {_verdict(ratio <= TARGET_JSON_RATIO)})"
        )
    return lengths


def process_part(short: Path, three: Path, rounds: int, work: Path) -> list[PairedResult]:
    processes = [
        paired_processes("`samplechop chop` 2-s file", [], short, rounds, work),
        paired_processes("`samplechop chop` 3-min record", [], three, rounds, work),
        paired_processes("`samplechop chop --out DIR` 3-min", ["--out", str(work / "pads")], three, rounds, work),
    ]
    print_processes(processes, rounds)
    short_s, long_s = processes[0].summary(), processes[1].summary()
    print(
        f"\n2-s file: {short_s['chop_s']:.2f} s (target ≤ {TARGET_SHORT_PROCESS_S:.1f} s: "
        f"{_verdict(short_s['chop_s'] <= TARGET_SHORT_PROCESS_S)}); 3-min record: {long_s['ratio']:.2f}× "
        f"the librosa process (target ≤ {TARGET_PROCESS_RATIO:.1f}×: "
        f"{_verdict(long_s['ratio'] <= TARGET_PROCESS_RATIO)}), peak {long_s['chop_peak_mb']:.0f} MB "
        f"(target ≤ {TARGET_PEAK_MB:.0f} MB: {_verdict(long_s['chop_peak_mb'] <= TARGET_PEAK_MB)})"
    )
    return processes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0, 10.0, 30.0])
    parser.add_argument("--repeat", type=int, default=3, help="in-process runs per length (median)")
    parser.add_argument("--process-runs", type=int, default=5, help="paired whole-process rounds (median)")
    parser.add_argument("--no-process", action="store_true", help="skip the whole-process part")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args(argv)
    try:
        import librosa  # noqa: F401  (the baseline)
    except ImportError:
        parser.exit(2, "bench/speed.py: librosa is the baseline; install the dev extras (scripts/setup --dev)\n")
    report: dict[str, object] = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="samplechop-speed-") as folder:
        work = Path(folder)
        pool = _listen_pool()
        records = {m: write_record(pool, work / f"record_{m:g}min.wav", 60.0 * m) for m in sorted(set(args.minutes))}
        lengths = in_process_part(records, args.repeat)
        report["in_process"] = [
            {"minutes": r.minutes, "stages_s": r.stages, "baseline_s": r.baseline_s} for r in lengths
        ]
        if not args.no_process:
            short = write_record(pool, work / "record_2s.wav", 2.0, offset_s=30.0)
            three = records.get(3.0) or write_record(pool, work / "record_3min.wav", 180.0)
            processes = process_part(short, three, args.process_runs, work)
            report["processes"] = {
                p.label: {
                    **p.summary(),
                    "chop_runs_s": [r.wall_s for r in p.chop],
                    "baseline_runs_s": [r.wall_s for r in p.baseline],
                }
                for p in processes
            }
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
