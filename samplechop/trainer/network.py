"""The chop network: a temporal convolutional network (dilated 1-D convolutions, no recurrence) over the frame
features of a whole record, with three per-frame sigmoid outputs — beat, downbeat, chop point (``HEADS``).

The design follows the TCN beat trackers published by MatthewDavies & Böck (2019) and Böck & Davies (2020):
residual blocks of a dilated convolution, ELU and dropout, dilations doubling per block so a few blocks see
seconds either side of a frame (here ±10 s: long enough to hear a bar at any tempo we decode).

Training is deterministic: one seed fixes the initial weights, the crops each epoch and dropout, TensorFlow runs
with op determinism and oneDNN off, so ``samplechop-train`` at the same commit reproduces the same weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from samplechop.shared_features import FEATURE_SPEC
from samplechop.trainer.sequences import HEADS, Dataset, load_dataset


@dataclass(frozen=True)
class NetworkConfig:
    """Every number that decides the trained weights besides the data."""

    channels: int = 48
    kernel_frames: int = 5
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    dropout: float = 0.1
    learning_rate: float = 2e-3
    crop_frames: int = 1024  # 20.5 s at 50 frames/s: a few bars at the slowest tempo, whole records mostly
    batch_crops: int = 8
    epochs: int = 50
    patience: int = 6
    # Beats are ~1 frame in 25 at 120 BPM, downbeats 1 in 100: weighting positives keeps the heads from
    # collapsing to "never" (weights near the inverse frequencies, softened so probabilities stay usable).
    positive_weights: tuple[float, float, float] = (5.0, 10.0, 10.0)
    # The frames either side of an event count as half-positive: annotations (and renders) jitter by a frame.
    neighbour_target: float = 0.5
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deterministic_tensorflow() -> None:
    # oneDNN picks kernels by CPU and thread count; without it TensorFlow's CPU ops give the same bits every run.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def build_network(config: NetworkConfig, n_features: int | None = None):
    """The Keras model: (batch, frames, n_features) → (batch, frames, 3) sigmoid activations."""
    import keras

    width = n_features or FEATURE_SPEC.n_features
    inputs = keras.Input(shape=(None, width), name="features")
    hidden = keras.layers.Conv1D(config.channels, 3, padding="same", name="stem")(inputs)
    hidden = keras.layers.ELU()(hidden)
    for dilation in config.dilations:
        branch = keras.layers.Conv1D(
            config.channels, config.kernel_frames, dilation_rate=dilation, padding="same", name=f"dilated_{dilation}"
        )(hidden)
        branch = keras.layers.ELU()(branch)
        branch = keras.layers.SpatialDropout1D(config.dropout, seed=config.seed + dilation)(branch)
        branch = keras.layers.Conv1D(config.channels, 1, name=f"mix_{dilation}")(branch)
        hidden = keras.layers.Add()([hidden, branch])
    outputs = keras.layers.Conv1D(len(HEADS), 1, activation="sigmoid", name="activations")(hidden)
    return keras.Model(inputs, outputs, name="chop_tcn")


def soft_targets(targets: np.ndarray, neighbour_target: float) -> np.ndarray:
    """(frames, 3) 0/1 → float32 with ``neighbour_target`` on the frames either side of each 1."""
    hard = targets.astype(np.float32)
    widened = np.zeros_like(hard)
    widened[1:] = np.maximum(widened[1:], hard[:-1])
    widened[:-1] = np.maximum(widened[:-1], hard[1:])
    return np.maximum(hard, neighbour_target * widened)


def weighted_loss(positive_weights: tuple[float, ...]):
    """Binary cross-entropy per head with weighted positives, averaged over the frames a mask keeps.

    ``y_true`` is (batch, frames, heads + 1): the soft targets and, last, the mask (0 on padding).
    """
    import keras
    from keras import ops

    weights = np.asarray(positive_weights, dtype=np.float32)

    def loss(y_true, y_pred):
        targets, mask = y_true[..., :-1], y_true[..., -1:]
        predicted = ops.clip(y_pred, keras.config.epsilon(), 1.0 - keras.config.epsilon())
        per_frame = -(weights * targets * ops.log(predicted) + (1.0 - targets) * ops.log(1.0 - predicted))
        return ops.sum(per_frame * mask) / ops.maximum(ops.sum(mask) * len(positive_weights), 1.0)

    return loss


def crops(
    dataset: Dataset, records: list[tuple[int, int]], config: NetworkConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's training crops: a random ``crop_frames`` stretch of every record (zero-padded, masked).

    Returns (x (crops, crop_frames, n_features) float32, y (crops, crop_frames, 4) float32 — targets + mask).
    Longer records give proportionally more crops, so every second of audio counts about the same.
    """
    length = config.crop_frames
    picks: list[tuple[int, int, int]] = []
    for first, frames in records:
        for _ in range(max(1, round(frames / length))):
            start = int(rng.integers(0, max(1, frames - length + 1)))
            picks.append((first, frames, start))
    order = rng.permutation(len(picks))
    n_features = dataset.features.shape[1]
    x = np.zeros((len(picks), length, n_features), dtype=np.float32)
    y = np.zeros((len(picks), length, len(HEADS) + 1), dtype=np.float32)
    for slot, pick in enumerate(order):
        first, frames, start = picks[pick]
        stop = min(frames, start + length)
        x[slot, : stop - start] = dataset.features[first + start : first + stop]
        targets = dataset.targets[first : first + frames]
        y[slot, : stop - start, :-1] = soft_targets(targets, config.neighbour_target)[start:stop]
        y[slot, : stop - start, -1] = 1.0
    return x, y


def whole_records(dataset: Dataset, records: list[tuple[int, int]], config: NetworkConfig):
    """Validation batches: each record whole (padded to the longest of the split), as (x, y) like :func:`crops`."""
    longest = max(frames for _, frames in records)
    n_features = dataset.features.shape[1]
    x = np.zeros((len(records), longest, n_features), dtype=np.float32)
    y = np.zeros((len(records), longest, len(HEADS) + 1), dtype=np.float32)
    for slot, (first, frames) in enumerate(records):
        x[slot, :frames] = dataset.features[first : first + frames]
        y[slot, :frames, :-1] = soft_targets(dataset.targets[first : first + frames], config.neighbour_target)
        y[slot, :frames, -1] = 1.0
    return x, y


def weights_digest(model) -> str:
    """sha256 of the trained weights (shapes and float32 bytes, in layer order): what the model id names."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        array = np.ascontiguousarray(weight, dtype=np.float32)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def model_id(weights_sha256: str) -> str:
    """``chop-f<spec version>-<12 hex>``: a hash of the weights and the feature spec the model reads."""
    spec = json.dumps(FEATURE_SPEC.to_dict(), sort_keys=True)
    return f"chop-f{FEATURE_SPEC.version}-{hashlib.sha256((weights_sha256 + spec).encode()).hexdigest()[:12]}"


def fit_network(dataset_dir: Path, out_dir: Path, config: NetworkConfig = NetworkConfig(), *, verbose: int = 2) -> Path:
    """Train on the train split with early stopping on the validation loss; returns the saved ``.keras`` path.

    Writes ``fit.json`` beside it: the config, the rows seen, the per-epoch history and the weights digest.
    """
    deterministic_tensorflow()
    import keras

    dataset = load_dataset(dataset_dir)
    train, val = dataset.split("train"), dataset.split("val")
    if not train or not val:
        raise ValueError("the dataset needs records in both splits: render more records")
    if int(dataset.targets.sum()) == 0:
        raise ValueError("the dataset has no labelled beats")
    keras.utils.set_random_seed(config.seed)
    model = build_network(config, dataset.features.shape[1])
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=weighted_loss(config.positive_weights))
    x_val, y_val = whole_records(dataset, val, config)
    rng = np.random.default_rng(config.seed)
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    best_loss, best_weights, best_epoch, waited = np.inf, model.get_weights(), 0, 0
    for epoch in range(config.epochs):
        x, y = crops(dataset, train, config, rng)
        result = model.fit(x, y, batch_size=config.batch_crops, epochs=1, shuffle=False, verbose=0)
        val_loss = float(model.evaluate(x_val, y_val, batch_size=1, verbose=0))
        history["loss"].append(float(result.history["loss"][-1]))
        history["val_loss"].append(val_loss)
        if verbose:
            print(f"epoch {epoch + 1}/{config.epochs}: loss {history['loss'][-1]:.4f} val_loss {val_loss:.4f}")
        if val_loss < best_loss - 1e-5:
            best_loss, best_weights, best_epoch, waited = val_loss, model.get_weights(), epoch + 1, 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    model.set_weights(best_weights)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "model.keras"
    model.save(model_path)
    summary = {
        "config": config.to_dict(),
        "train_records": len(train),
        "val_records": len(val),
        "train_frames": int(sum(frames for _, frames in train)),
        "epochs_run": len(history["loss"]),
        "best_epoch": best_epoch,
        "history": history,
        "weights_sha256": weights_digest(model),
    }
    (out_dir / "fit.json").write_text(json.dumps(summary, indent=2))
    return model_path
