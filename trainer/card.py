"""The model card: what a model was trained on, how, and how well it does, written beside the ``.onnx``."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from shared_features import FEATURE_SPEC

VERSIONED_PACKAGES = ("tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "librosa", "numpy", "music21")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def card_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".card.json")


def write_card(
    onnx_path: Path,
    *,
    model_id: str,
    data: dict[str, Any],
    training: dict[str, Any],
    metrics: dict[str, Any],
    parity_max_abs: float,
) -> Path:
    card = {
        "model_id": model_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": "frame-level chop-point classification (probability that a frame starts a sampler pad)",
        "input": {"name": "windows", "shape": [None, FEATURE_SPEC.window_width], "dtype": "float32"},
        "output": {"name": "chop_probability", "shape": [None, 1], "dtype": "float32"},
        "feature_spec": FEATURE_SPEC.to_dict(),
        "data": data,
        "training": training,
        "metrics": metrics,
        "export": {"tool": "tf2onnx.convert.from_function", "parity_max_abs_diff": parity_max_abs},
        "versions": package_versions(),
        "licence": "Trained only on the rendered corpus described in data; see trainer/CORPUS.md.",
    }
    path = card_path(onnx_path)
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path
