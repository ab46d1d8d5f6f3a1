"""The seed recipe's network: the original feed-forward MLP over spec-1 windows, one chop probability a frame."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from samplechop.trainer.seed.dataset import load_split
from samplechop.trainer.seed.features import SEED_SPEC


@dataclass(frozen=True)
class FitConfig:
    hidden: tuple[int, ...] = (256, 128, 64, 32)
    dropout: float = 0.2
    learning_rate: float = 1e-3
    batch_size: int = 1024
    epochs: int = 30
    patience: int = 4
    seed: int = 0
    class_weight_power: float = 1.0


def build_model(config: FitConfig):
    import keras

    inputs = keras.Input(shape=(SEED_SPEC.window_width,), name="windows")
    hidden = inputs
    for units in config.hidden:
        hidden = keras.layers.Dense(units, activation="relu")(hidden)
        hidden = keras.layers.Dropout(config.dropout)(hidden)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="chop_probability")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(curve="PR", name="pr_auc"), keras.metrics.Precision(), keras.metrics.Recall()],
    )
    return model


def class_weights(y: np.ndarray, power: float = 1.0) -> dict[int, float]:
    """Positive weight (negatives/positives)**power, negatives 1: power 1 gives both classes equal total weight
    (positives are ~5 % of rows), smaller powers keep the probabilities closer to calibrated."""
    positives = max(int(y.sum()), 1)
    negatives = max(int(y.size - positives), 1)
    return {0: 1.0, 1: (negatives / positives) ** power}


def fit(dataset_dir: Path, out_dir: Path, config: FitConfig = FitConfig(), *, verbose: int = 2) -> Path:
    """Train on the dataset's train split with early stopping on the validation split; returns the .keras path."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(config.seed)
    x_train, y_train, _ = load_split(dataset_dir, "train")
    x_val, y_val, _ = load_split(dataset_dir, "val", unshifted_only=True)
    if y_train.sum() == 0:
        raise ValueError("the train split has no positive frames")
    if x_val.shape[0] == 0:
        raise ValueError("the validation split is empty: use more records or a larger val_fraction")
    model = build_model(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_pr_auc", mode="max", patience=config.patience, restore_best_weights=True
    )
    history = model.fit(
        x_train,
        y_train.astype(np.float32),
        validation_data=(x_val, y_val.astype(np.float32)),
        epochs=config.epochs,
        batch_size=config.batch_size,
        class_weight=class_weights(y_train, config.class_weight_power),
        callbacks=[stop],
        shuffle=True,
        verbose=verbose,
    )
    model_path = out_dir / "model.keras"
    model.save(model_path)
    summary = {
        "config": asdict(config),
        "train_rows": int(y_train.size),
        "train_positives": int(y_train.sum()),
        "val_rows": int(y_val.size),
        "val_positives": int(y_val.sum()),
        "epochs_run": len(history.history["loss"]),
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
    }
    (out_dir / "fit.json").write_text(json.dumps(summary, indent=2))
    return model_path
