"""Quality benchmark: does sampleChop find the beats and bars and put chops where a musician would cut?

On the annotated dev set (``../shared/data/dev``, see ``shared/README.md``), per data group and split — mdb_drums
(drum stems), real (full mixes: tune and report printed apart), loops (tempo only; not in SPLIT.tsv) — every system
is scored record by record and each figure is a mean over records with a bootstrap 95 % interval:

- beat F / downbeat F: ``mir_eval.beat.f_measure``, 70 ms, untrimmed, of a system's beat grid;
- P@beat / P@downbeat: share of its K chop points within 70 ms of an annotated beat / downbeat (a point at 0 s,
  the first slice's start, does not count); P@onset: within 50 ms of an annotated drum onset (mdb_drums);
- diversity ×ref / ×random: mean pairwise distance between the chroma of the 1 s after each chop, over that of
  the reference system (sampleChop's own top-K by score, λ = 0) and of random points on the same record;
- tempo acc1 / acc2: share of records whose tempo is within 4 % of the reference (acc2 forgives ×2, ÷2, ×3, ÷3).

    python bench/quality.py                                  # every system, tune and report
    python bench/quality.py --split report --systems samplechop,librosa-tracker --json out.json
    python bench/quality.py --model new.onnx --gate --min-p-downbeat 0.5 --min-diversity 1.3
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.eval.data import SPLITS, DevDataError, load_dev  # noqa: E402
from bench.eval.evaluate import (  # noqa: E402
    DEFAULT_REFERENCE,
    RANDOM_REFERENCE,
    Table,
    evaluate,
    gate,
    markdown,
    summarise,
)
from bench.eval.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED  # noqa: E402
from bench.eval.systems import CHOPS, SystemEntry, default_systems  # noqa: E402

DEV_DIR = REPO.parent / "shared" / "data" / "dev"
GATES = {  # option → metric key
    "min_beat_f": "beat_f",
    "min_downbeat_f": "downbeat_f",
    "min_p_beat": "p_beat",
    "min_p_downbeat": "p_downbeat",
    "min_diversity": "diversity_vs_reference",
    "min_diversity_random": "diversity_vs_random",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev-dir", type=Path, default=DEV_DIR, help="the dev set root (holds SPLIT.tsv)")
    parser.add_argument("--split", choices=[*SPLITS, "all"], default="all")
    parser.add_argument("--systems", default=None, help="comma-separated rows to print (default: all)")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model for the samplechop rows")
    parser.add_argument("--compare", type=Path, default=None, help="a second model, row 'compare'")
    parser.add_argument("--chops", type=int, default=CHOPS, help="K, chops a record")
    parser.add_argument("--top-n", type=int, default=16)
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, help="the system diversity is relative to")
    parser.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=BOOTSTRAP_SEED, help="bootstrap seed")
    parser.add_argument("--no-loops", action="store_true", help="leave the loops out")
    parser.add_argument("--json", type=Path, default=None, help="write every figure (and per record) here")
    parser.add_argument("--quiet", action="store_true", help="no per-record progress on stderr")
    gates = parser.add_argument_group("gate (report split, all report records pooled)")
    gates.add_argument("--gate", action="store_true", help="exit 1 unless --gate-system meets every minimum given")
    gates.add_argument("--gate-system", default="samplechop")
    gates.add_argument("--min-beat-f", type=float)
    gates.add_argument("--min-downbeat-f", type=float)
    gates.add_argument("--min-p-beat", type=float)
    gates.add_argument("--min-p-downbeat", type=float)
    gates.add_argument("--min-diversity", type=float, help="diversity over the reference's (a ratio)")
    gates.add_argument("--min-diversity-random", type=float, help="diversity over random points' (a ratio)")
    return parser.parse_args(argv)


def choose(entries: list[SystemEntry], wanted: str | None, needed: set[str]) -> tuple[list[SystemEntry], list[str]]:
    """(the systems to run: the chosen ones plus the references they need, the rows to print)."""
    names = [e.name for e in entries]
    shown = names if wanted is None else [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in shown if n not in names]
    if unknown:
        raise ValueError(f"unknown system {', '.join(unknown)}; choose from {', '.join(names)}")
    run = [e for e in entries if e.name in set(shown) | needed]
    return run, shown


def tables_for(results: list, split: str, shown: list[str], resamples: int, seed: int) -> list[Table]:
    """mdb_drums, real, loops; per split (and both together for --split all), those with records only."""
    splits = [*SPLITS, "all"] if split == "all" else [split]
    tables = []
    for group in ("mdb_drums", "real"):
        for name in splits:
            table = summarise(results, group, name, shown, resamples=resamples, seed=seed)
            single_split = name == "all" and len({r.split for r in results if r.group == group}) < 2
            if table.records and not single_split:
                tables.append(table)
    loops = summarise(results, "loops", "none", shown, resamples=resamples, seed=seed)
    return [*tables, loops] if loops.records else tables


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    thresholds = {key: getattr(args, option) for option, key in GATES.items() if getattr(args, option) is not None}
    if args.gate and not thresholds:
        print("quality: --gate needs at least one minimum (--min-downbeat-f, --min-p-downbeat, …)", file=sys.stderr)
        return 2
    # The gate is always computed on the report split, whatever --split prints.
    splits = SPLITS if args.split == "all" else tuple({args.split, *(("report",) if args.gate else ())})
    try:
        records = load_dev(args.dev_dir, splits, loops=not args.no_loops)
        entries = default_systems(args.model, compare_path=args.compare, k=args.chops, top_n=args.top_n)
        needed = {args.reference, RANDOM_REFERENCE} | ({args.gate_system} if args.gate else set())
        to_run, shown = choose(entries, args.systems, needed)
    except (DevDataError, ValueError, RuntimeError) as error:  # RuntimeError: the engine's ModelLoadError
        print(f"quality: {error}", file=sys.stderr)
        return 2
    if args.gate and args.gate_system not in {e.name for e in entries}:
        print(f"quality: unknown --gate-system {args.gate_system}", file=sys.stderr)
        return 2
    print(f"quality: {len(records)} records, {len(to_run)} systems, K = {args.chops}", file=sys.stderr)
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        evaluation = evaluate(records, to_run, reference=args.reference, progress=progress)
    except DevDataError as error:
        print(f"quality: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    tables = tables_for(evaluation.results, args.split, shown, args.resamples, args.seed)
    for table in tables:
        print(f"\n{markdown(table)}")
    print("\nsystems:")
    for entry in entries:
        if entry.name in shown:
            print(f"- {entry.name}: {entry.description}")
    print(
        f"\nintervals: bootstrap 95 % over records ({args.resamples} resamples, seed {args.seed}); "
        f"diversity ×ref is relative to {args.reference}."
    )
    wall_s = evaluation.seconds_total + time.perf_counter() - started
    timing = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in evaluation.seconds_by_system.items())
    print(f"time: {wall_s:.0f} s in all — decoding + chroma {evaluation.seconds_decoding:.0f} s, {timing}")
    verdict: dict[str, object] | None = None
    status = 0
    if args.gate:
        passed, lines = gate(evaluation.results, args.gate_system, thresholds, resamples=args.resamples, seed=args.seed)
        print("\n".join(lines))
        print(f"gate: {'passed' if passed else 'FAILED'}")
        verdict = {"system": args.gate_system, "thresholds": thresholds, "passed": passed, "checks": lines}
        status = 0 if passed else 1
    if args.json:
        document = {
            "dev_dir": str(args.dev_dir),
            "split": args.split,
            "chops": args.chops,
            "reference": args.reference,
            "bootstrap": {"resamples": args.resamples, "seed": args.seed, "confidence": 0.95},
            "systems": {e.name: e.description for e in to_run},
            "tables": [table.to_dict() for table in tables],
            "records": [result.to_dict() for result in evaluation.results],
            "gate": verdict,
            "seconds": {
                "total": round(wall_s, 1),
                "decoding": round(evaluation.seconds_decoding, 1),
                **{k: round(v, 1) for k, v in evaluation.seconds_by_system.items()},
            },
            "machine": platform.platform(),
        }
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    return status


if __name__ == "__main__":
    sys.exit(main())
