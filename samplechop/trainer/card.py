"""The model card: what a model was trained on, how, and how well it does, written beside the ``.onnx``.

Only the trainer writes cards. The recipe section holds the exact ``samplechop-train all`` arguments, so the
weights can be reproduced (``samplechop-train reproduce``); ``onnx_sha256`` lets the service refuse a model file
that is not the one the card describes.
"""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

VERSIONED_PACKAGES = ("tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "numpy", "scipy", "music21")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


# What the weights depend on: a change here (uncommitted) marks the commit ``+dirty`` in the card.
# Paths are relative to the checkout root.
WEIGHT_SOURCES = ("samplechop/trainer", "samplechop/shared_features", "pyproject.toml")


def source_commit() -> str | None:
    """The git commit the trainer ran from (None outside a checkout), ``+dirty`` when the code the weights depend
    on (:data:`WEIGHT_SOURCES`) has uncommitted changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *WEIGHT_SOURCES],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def card_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".card.json")


def write_card(onnx_path: Path, card: dict[str, Any], *, commit: str | None = None) -> Path:
    """Write ``card`` (plus creation time, package versions and the commit the run started from — now, unless
    given) beside the model; returns its path."""
    full = {
        **card,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source_commit": commit or source_commit(),
        "versions": package_versions(),
    }
    path = card_path(onnx_path)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(full, indent=2) + "\n")
    partial.replace(path)
    return path
