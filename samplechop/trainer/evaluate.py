"""Scoring a chop network on the validation records: per-head PR-AUC of its frame activations.

The musical figures (beat/downbeat F-measure, chop precision, diversity on real records) come from
``bench/quality.py``; this is the trainer's own check that each head learned its targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

from samplechop.service.engine.model import open_session, session_outputs
from samplechop.trainer.sequences import HEADS, load_dataset


def validation_metrics(onnx_path: Path, dataset_dir: Path) -> dict[str, float]:
    """PR-AUC of each head against its targets (±1 frame counts as positive), with chance and lift."""
    # The engine's own session and call, without its model-card check: the model was just exported and its card
    # is written after these metrics.
    session = open_session(Path(onnx_path))
    data = load_dataset(dataset_dir)
    activations, targets = [], []
    for first, frames in data.split("val"):
        activations.append(session_outputs(session, data.features[first : first + frames]))
        hard = data.targets[first : first + frames].astype(bool)
        widened = hard.copy()
        widened[1:] |= hard[:-1]
        widened[:-1] |= hard[1:]
        targets.append(widened)
    predicted, wanted = np.concatenate(activations), np.concatenate(targets)
    metrics: dict[str, float] = {"records": len(activations), "frames": int(wanted.shape[0])}
    for head, name in enumerate(HEADS):
        chance = float(wanted[:, head].mean())
        pr_auc = float(average_precision_score(wanted[:, head], predicted[:, head])) if chance > 0 else 0.0
        metrics[f"{name}_pr_auc"] = round(pr_auc, 4)
        metrics[f"{name}_chance"] = round(chance, 4)
        metrics[f"{name}_lift"] = round(pr_auc / max(chance, 1e-12), 2)
    return metrics
