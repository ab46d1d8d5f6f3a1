"""``samplechop-train``: corpus → build → fit → export, one step a command, ``all`` of them, or ``reproduce``."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from samplechop.trainer.card import card_path

SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "service" / "models" / "default.onnx"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samplechop-train", description="Render a corpus and train the chop model.")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_corpus_options(commands.add_parser("corpus", help="render the training corpus (WAV + beat/chop labels)"))

    build = commands.add_parser("build", help="features + beat/downbeat/chop targets of every record")
    build.add_argument("--corpus", type=Path, required=True)
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--workers", type=int, default=2)

    fit = commands.add_parser("fit", help="train the network")
    fit.add_argument("--dataset", type=Path, required=True)
    fit.add_argument("--out", type=Path, required=True)
    fit.add_argument("--epochs", type=int, default=None, help="epochs at most (the recipe's default)")
    fit.add_argument("--seed", type=int, default=0)

    export = commands.add_parser("export", help="export to ONNX, check parity, write the model card")
    export.add_argument("--keras", type=Path, required=True)
    export.add_argument("--dataset", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True, help="the .onnx to write")

    evaluate = commands.add_parser("evaluate", help="per-head PR-AUC of an ONNX model on validation records")
    evaluate.add_argument("--model", type=Path, required=True)
    evaluate.add_argument("--dataset", type=Path, required=True)

    whole = _add_corpus_options(commands.add_parser("all", help="the whole chain into one directory"))
    whole.add_argument("--epochs", type=int, default=None, help="epochs at most (the recipe's default)")
    whole.add_argument("--install", action="store_true", help="copy the result over the shipped default model")

    seed = _add_corpus_options(
        commands.add_parser("seed", help="the seed recipe (spec-1 summed CQT + the original MLP), a comparison row")
    )
    seed.add_argument("--epochs", type=int, default=30)

    again = commands.add_parser("reproduce", help="rerun the recipe in a model card; check the weights match")
    again.add_argument("--card", type=Path, default=card_path(SHIPPED_MODEL))
    again.add_argument("--out", type=Path, required=True)
    again.add_argument("--workers", type=int, default=2)
    return parser


def _add_corpus_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--records", type=int, default=1200, help="records to render (1200)")
    parser.add_argument("--seed", type=int, default=0, help="the corpus and the weights are a function of this (0)")
    parser.add_argument("--min-duration", type=float, default=20.0, help="shortest record, seconds (20)")
    parser.add_argument("--max-duration", type=float, default=40.0, help="longest record, seconds (40)")
    parser.add_argument(
        "--workers", type=int, default=2, help="rendering and build processes (2); no effect on results"
    )
    return parser


def _corpus(out: Path, records: int, seed: int, min_s: float, max_s: float, workers: int) -> dict[str, Any]:
    from samplechop.trainer.corpus import render_corpus

    started = time.perf_counter()
    from samplechop.shared_features import FEATURE_SPEC

    # Rendered straight at the analysis rate: the features read 22.05 kHz mono, so no resampling at build time.
    rate = FEATURE_SPEC.sample_rate
    paths = render_corpus(
        out, records, seed, min_duration_s=min_s, max_duration_s=max_s, workers=workers, sample_rate=rate
    )
    return {"records": len(paths), "seed": seed, "wall_s": round(time.perf_counter() - started, 1), "dir": str(out)}


def _network_config(epochs: int | None, seed: int):
    from samplechop.trainer.network import NetworkConfig

    config = NetworkConfig(seed=seed)
    return replace(config, epochs=epochs) if epochs is not None else config


def _data_summary(dataset: Path) -> dict[str, Any]:
    index = json.loads((dataset / "index.json").read_text())
    corpus_note: dict[str, Any] = {}
    manifest = Path(index.get("corpus_dir", "")) / "corpus.json"
    if manifest.exists():
        records = json.loads(manifest.read_text())
        corpus_note = {
            "kinds": dict(sorted(Counter(record["kind"] for record in records).items())),
            "meters": dict(sorted(Counter(str(record.get("meter")) for record in records).items())),
            "licences": sorted(
                {licence for record in records for licence in record.get("licences", [record["licence"]])}
            ),
            "soundfonts": sorted({str(record["soundfont"]) for record in records}),
        }
    return {
        "corpus": "rendered (see trainer/CORPUS.md); no dev or NC material",
        "seed": index["seed"],
        "records": len(index["records"]),
        "val_records": sum(r["split"] == "val" for r in index["records"]),
        "audio_s": index["build"]["audio_s"],
        **corpus_note,
        "sources": _sources(Path(index.get("corpus_dir", ""))),
    }


def _sources(corpus_dir: Path) -> Any:
    """The corpus's sources with their Debian package versions and licences (the renderer's sources.json)."""
    path = corpus_dir / "sources.json"
    return json.loads(path.read_text()) if path.exists() else None


def _export(
    keras_path: Path,
    dataset: Path,
    onnx_path: Path,
    *,
    recipe: dict[str, Any],
    extra: dict[str, Any],
    commit: str | None = None,
) -> dict[str, Any]:
    import numpy as np

    from samplechop.shared_features import FEATURE_SPEC
    from samplechop.trainer.card import write_card
    from samplechop.trainer.evaluate import validation_metrics
    from samplechop.trainer.export import checked_export, file_sha256
    from samplechop.trainer.network import model_id
    from samplechop.trainer.sequences import HEADS, load_dataset

    data = load_dataset(dataset)
    parity_inputs = [
        data.features[first : first + frames][None].astype(np.float32) for first, frames in data.split("val")[:4]
    ]
    difference = checked_export(
        keras_path,
        onnx_path,
        parity_inputs,
        input_shape=(None, None, FEATURE_SPEC.n_features),
        input_name="features",
        output_name="activations",
    )
    training = json.loads((keras_path.parent / "fit.json").read_text())
    identity = model_id(training["weights_sha256"])
    card = {
        "model_id": identity,
        "task": "per-frame beat, downbeat and chop-point activations for bar decoding and chop selection",
        "input": {"name": "features", "shape": ["batch", "frames", FEATURE_SPEC.n_features], "dtype": "float32"},
        "output": {"name": "activations", "shape": ["batch", "frames", len(HEADS)], "heads": list(HEADS)},
        "feature_spec": FEATURE_SPEC.to_dict(),
        "recipe": recipe,
        "data": _data_summary(dataset),
        "training": training,
        "metrics": {"validation": validation_metrics(onnx_path, dataset)},
        "weights_sha256": training["weights_sha256"],
        "onnx_sha256": file_sha256(onnx_path),
        "export": {"tool": "tf2onnx.convert.from_function", "opset": 17, "parity_max_abs_diff": difference},
        "licence": "Trained only on the rendered corpus described in data; see trainer/CORPUS.md.",
        **extra,
    }
    write_card(onnx_path, card, commit=commit)
    return {"model_id": identity, "onnx": str(onnx_path), "parity_max_abs_diff": difference, "metrics": card["metrics"]}


def _install(onnx_path: Path) -> None:
    shutil.copyfile(onnx_path, SHIPPED_MODEL)
    shutil.copyfile(card_path(onnx_path), card_path(SHIPPED_MODEL))


def _all(out: Path, recipe: dict[str, Any], workers: int) -> dict[str, Any]:
    from samplechop.trainer.card import source_commit
    from samplechop.trainer.network import fit_network
    from samplechop.trainer.sequences import build_dataset

    commit = source_commit()  # the code the run starts from, whatever is committed while it trains
    timings: dict[str, float] = {}
    started = time.perf_counter()
    corpus = _corpus(
        out / "corpus", recipe["records"], recipe["seed"], recipe["min_duration_s"], recipe["max_duration_s"], workers
    )
    timings["corpus_s"] = time.perf_counter() - started
    started = time.perf_counter()
    build_dataset(out / "corpus", out / "dataset", seed=recipe["seed"], workers=workers)
    timings["build_s"] = time.perf_counter() - started
    started = time.perf_counter()
    keras_path = fit_network(out / "dataset", out / "fit", _network_config(recipe["epochs"], recipe["seed"]))
    timings["fit_s"] = time.perf_counter() - started
    started = time.perf_counter()
    extra = {"timings_s": {k: round(v, 1) for k, v in timings.items()}, "corpus_render_wall_s": corpus["wall_s"]}
    report = _export(keras_path, out / "dataset", out / "model.onnx", recipe=recipe, extra=extra, commit=commit)
    report["timings_s"] = {**extra["timings_s"], "export_s": round(time.perf_counter() - started, 1)}
    return report


def _seed_recipe(args: argparse.Namespace) -> dict[str, Any]:
    """Corpus → spec-1 rows → the original MLP → ONNX: the first sampleChop's recipe on today's corpus."""
    from samplechop.trainer.card import write_card
    from samplechop.trainer.export import checked_export, file_sha256
    from samplechop.trainer.network import deterministic_tensorflow, weights_digest
    from samplechop.trainer.seed.dataset import build_dataset, load_split
    from samplechop.trainer.seed.features import SEED_SPEC
    from samplechop.trainer.seed.fit import FitConfig, fit

    out: Path = args.out
    corpus = _corpus(out / "corpus", args.records, args.seed, args.min_duration, args.max_duration, args.workers)
    build_dataset(out / "corpus", out / "dataset", seed=args.seed, workers=args.workers)
    deterministic_tensorflow()
    keras_path = fit(out / "dataset", out / "fit", FitConfig(epochs=args.epochs, seed=args.seed))
    x_val, _, _ = load_split(out / "dataset", "val", unshifted_only=True)
    onnx_path = out / "model.onnx"
    difference = checked_export(
        keras_path,
        onnx_path,
        [x_val[:20_000]],
        input_shape=(None, SEED_SPEC.window_width),
        input_name="windows",
        output_name="chop_probability",
    )
    import keras

    digest = weights_digest(keras.models.load_model(keras_path, compile=False))
    card = {
        "model_id": f"seed-f{SEED_SPEC.version}-{digest[:12]}",
        "task": "the seed recipe: frame-level chop probability from spec-1 windows (comparison only)",
        "feature_spec": SEED_SPEC.to_dict(),
        "recipe": {
            "command": "seed",
            "records": args.records,
            "seed": args.seed,
            "epochs": args.epochs,
            "min_duration_s": args.min_duration,
            "max_duration_s": args.max_duration,
        },
        "corpus_render_wall_s": corpus["wall_s"],
        "training": json.loads((out / "fit" / "fit.json").read_text()),
        "weights_sha256": digest,
        "onnx_sha256": file_sha256(onnx_path),
        "export": {"tool": "tf2onnx.convert.from_function", "parity_max_abs_diff": difference},
    }
    write_card(onnx_path, card)
    return {"model_id": card["model_id"], "onnx": str(onnx_path), "parity_max_abs_diff": difference}


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.command == "corpus":
        return _corpus(args.out, args.records, args.seed, args.min_duration, args.max_duration, args.workers)
    if args.command == "build":
        from samplechop.trainer.sequences import build_dataset

        index = build_dataset(args.corpus, args.out, seed=args.seed, workers=args.workers)
        return {"records": len(index["records"]), **index["build"]}
    if args.command == "fit":
        from samplechop.trainer.network import fit_network

        return {"keras": str(fit_network(args.dataset, args.out, _network_config(args.epochs, args.seed)))}
    if args.command == "export":
        return _export(args.keras, args.dataset, args.out, recipe={"command": "export"}, extra={})
    if args.command == "evaluate":
        from samplechop.trainer.evaluate import validation_metrics

        return {"validation": validation_metrics(args.model, args.dataset)}
    if args.command == "seed":
        return _seed_recipe(args)
    if args.command == "reproduce":
        card = json.loads(args.card.read_text())
        recipe = card.get("recipe", {})
        if recipe.get("command") != "all":
            raise ValueError(f"{args.card} records no `samplechop-train all` recipe to reproduce")
        report = _all(args.out, recipe, args.workers)
        produced = json.loads(card_path(args.out / "model.onnx").read_text())["weights_sha256"]
        report["reproduced"] = produced == card["weights_sha256"]
        if not report["reproduced"]:
            raise RuntimeError(f"weights differ: card {card['weights_sha256'][:12]}, rerun {produced[:12]}")
        return report
    # all
    recipe = {
        "command": "all",
        "records": args.records,
        "seed": args.seed,
        "min_duration_s": args.min_duration,
        "max_duration_s": args.max_duration,
        "epochs": _network_config(args.epochs, args.seed).epochs,
    }
    report = _all(args.out, recipe, args.workers)
    if args.install:
        _install(args.out / "model.onnx")
        report["installed"] = str(SHIPPED_MODEL)
    return report


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        # Progress (epoch lines, tqdm) goes to stderr; stdout carries only the JSON report.
        with contextlib.redirect_stdout(sys.stderr):
            report = run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"samplechop-train: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
