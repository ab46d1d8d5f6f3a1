"""``samplechop-train``: corpus → build → fit → export → evaluate, one step a command, or ``all`` of them."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from trainer.card import card_path

SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "service" / "models" / "default.onnx"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samplechop-train", description="Render a corpus and train the chop model.")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_corpus_options(commands.add_parser("corpus", help="render the training corpus (WAV + chop labels)"))

    build = commands.add_parser("build", help="features + labels + augmentation → sharded arrays")
    build.add_argument("--corpus", type=Path, required=True)
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--workers", type=int, default=2)

    fit = commands.add_parser("fit", help="train the Keras classifier")
    fit.add_argument("--dataset", type=Path, required=True)
    fit.add_argument("--out", type=Path, required=True)
    fit.add_argument("--epochs", type=int, default=30)
    fit.add_argument("--seed", type=int, default=0)

    export = commands.add_parser("export", help="export to ONNX, check parity, write the model card")
    export.add_argument("--keras", type=Path, required=True)
    export.add_argument("--dataset", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True, help="the .onnx to write")

    evaluate = commands.add_parser("evaluate", help="score an ONNX model on validation and dev records")
    evaluate.add_argument("--model", type=Path, required=True)
    evaluate.add_argument("--dataset", type=Path, default=None)
    evaluate.add_argument("--dev", type=Path, default=None, help="annotated drums (default ../shared/data/dev/…)")

    whole = _add_corpus_options(commands.add_parser("all", help="the whole chain into one directory"))
    whole.add_argument("--epochs", type=int, default=30)
    whole.add_argument("--dev", type=Path, default=None)
    whole.add_argument("--install", action="store_true", help="copy the result over the shipped default model")
    return parser


def _add_corpus_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--records", type=int, default=300, help="records to render (300)")
    parser.add_argument("--seed", type=int, default=0, help="the corpus is a pure function of this (0)")
    parser.add_argument("--min-duration", type=float, default=20.0, help="shortest record, seconds (20)")
    parser.add_argument("--max-duration", type=float, default=40.0, help="longest record, seconds (40)")
    parser.add_argument("--workers", type=int, default=2, help="rendering and build processes (2)")
    return parser


def _corpus(out: Path, records: int, seed: int, min_s: float, max_s: float, workers: int) -> dict:
    from trainer.corpus import render_corpus

    started = time.perf_counter()
    paths = render_corpus(out, records, seed, min_duration_s=min_s, max_duration_s=max_s, workers=workers)
    return {"records": len(paths), "seed": seed, "wall_s": round(time.perf_counter() - started, 1), "dir": str(out)}


def _export(keras_path: Path, dataset: Path, onnx_path: Path, *, data: dict, training: dict, dev: Path | None) -> dict:
    from trainer.card import write_card
    from trainer.dataset import load_split
    from trainer.evaluate import DEFAULT_DEV_DIR, dev_metrics, validation_metrics
    from trainer.export import checked_export, model_id_of

    x_val, _, _ = load_split(dataset, "val", unshifted_only=True)
    difference = checked_export(keras_path, onnx_path, x_val[:20_000])
    metrics = {
        "validation": validation_metrics(onnx_path, dataset),
        "dev_mdb_drums": dev_metrics(onnx_path, dev or DEFAULT_DEV_DIR),
    }
    model_id = model_id_of(onnx_path)
    write_card(onnx_path, model_id=model_id, data=data, training=training, metrics=metrics, parity_max_abs=difference)
    return {"model_id": model_id, "onnx": str(onnx_path), "parity_max_abs_diff": difference, "metrics": metrics}


def _data_summary(dataset: Path) -> dict:
    index = json.loads((dataset / "index.json").read_text())
    corpus_note = {}
    manifest = Path(index.get("corpus_dir", "")) / "corpus.json"
    if manifest.exists():
        records = json.loads(manifest.read_text())
        corpus_note = {
            "manifest": str(manifest),
            "kinds": dict(Counter(record["kind"] for record in records)),
            "licences": sorted({record["licence"] for record in records}),
            "soundfonts": sorted({str(record["soundfont"]) for record in records}),
        }
    return {
        "corpus": "rendered (see trainer/CORPUS.md); no dev or NC material",
        "seed": index["seed"],
        "records": len(index["records"]),
        "val_records": sum(r["split"] == "val" for r in index["records"]),
        "audio_s": index["build"]["audio_s"],
        "pitch_shifts": index["shifts"],
        **corpus_note,
    }


def _install(onnx_path: Path) -> None:
    shutil.copyfile(onnx_path, SHIPPED_MODEL)
    shutil.copyfile(card_path(onnx_path), card_path(SHIPPED_MODEL))


def run(args: argparse.Namespace) -> dict:
    from trainer.dataset import build_dataset
    from trainer.fit import FitConfig, fit

    if args.command == "corpus":
        return _corpus(args.out, args.records, args.seed, args.min_duration, args.max_duration, args.workers)
    if args.command == "build":
        index = build_dataset(args.corpus, args.out, seed=args.seed, workers=args.workers)
        return {"records": len(index["records"]), **index["build"]}
    if args.command == "fit":
        return {"keras": str(fit(args.dataset, args.out, FitConfig(epochs=args.epochs, seed=args.seed)))}
    if args.command == "export":
        fit_summary = json.loads((args.keras.parent / "fit.json").read_text())
        return _export(
            args.keras, args.dataset, args.out, data=_data_summary(args.dataset), training=fit_summary, dev=None
        )
    if args.command == "evaluate":
        from trainer.evaluate import DEFAULT_DEV_DIR, dev_metrics, validation_metrics

        report = {"dev_mdb_drums": dev_metrics(args.model, args.dev or DEFAULT_DEV_DIR)}
        if args.dataset:
            report["validation"] = validation_metrics(args.model, args.dataset)
        return report
    # all
    out: Path = args.out
    timings = {}
    started = time.perf_counter()
    corpus = _corpus(out / "corpus", args.records, args.seed, args.min_duration, args.max_duration, args.workers)
    timings["corpus_s"] = time.perf_counter() - started
    started = time.perf_counter()
    index = build_dataset(out / "corpus", out / "dataset", seed=args.seed, workers=args.workers)
    timings["build_s"] = time.perf_counter() - started
    started = time.perf_counter()
    keras_path = fit(out / "dataset", out / "fit", FitConfig(epochs=args.epochs, seed=args.seed))
    timings["fit_s"] = time.perf_counter() - started
    started = time.perf_counter()
    fit_summary = json.loads((out / "fit" / "fit.json").read_text())
    fit_summary["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    data = {
        **_data_summary(out / "dataset"),
        "corpus_render_wall_s": corpus["wall_s"],
        "build_realtime_factor": index["build"]["realtime_factor"],
    }
    report = _export(keras_path, out / "dataset", out / "model.onnx", data=data, training=fit_summary, dev=args.dev)
    report["timings_s"] = {**fit_summary["timings_s"], "export_evaluate_s": round(time.perf_counter() - started, 1)}
    if args.install:
        _install(out / "model.onnx")
        report["installed"] = str(SHIPPED_MODEL)
    return report


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        # Progress (Keras's epoch lines, tqdm) goes to stderr; stdout carries only the JSON report.
        with contextlib.redirect_stdout(sys.stderr):
            report = run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"samplechop-train: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
