"""Export to ONNX with tf2onnx, refusing any export that does not match Keras on held-out inputs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

PARITY_TOLERANCE = 1e-5
OPSET = 17


class ParityError(RuntimeError):
    """The ONNX model's outputs differ from Keras's by more than the tolerance."""


def export_onnx(
    keras_path: Path, onnx_path: Path, *, input_shape: tuple[int | None, ...], input_name: str, output_name: str
) -> None:
    """Convert a saved Keras model to ONNX through a ``tf.function`` with a fixed input signature.

    ``tf2onnx.convert.from_keras`` fails on Keras 3; ``from_function`` on the traced call does not.
    The file is written beside its target and renamed into place, so a failed export leaves nothing behind.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.models.load_model(keras_path, compile=False)
    signature = (tf.TensorSpec(input_shape, tf.float32, name=input_name),)

    @tf.function(input_signature=signature)
    def forward(inputs):
        return {output_name: model(inputs, training=False)}

    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    partial = onnx_path.with_name(f".{onnx_path.name}.partial")
    try:
        tf2onnx.convert.from_function(forward, input_signature=signature, opset=OPSET, output_path=str(partial))
        partial.replace(onnx_path)
    finally:
        partial.unlink(missing_ok=True)


def parity(keras_path: Path, onnx_path: Path, inputs: list[np.ndarray]) -> float:
    """Largest absolute difference between Keras and onnxruntime outputs over ``inputs`` (each one batch)."""
    import keras

    from samplechop.service.engine.model import open_session

    model = keras.models.load_model(keras_path, compile=False)
    session = open_session(onnx_path)  # exactly as the service will run it
    name = session.get_inputs()[0].name
    largest = 0.0
    for batch in inputs:
        expected = np.asarray(model(batch.astype(np.float32), training=False))
        (actual,) = session.run(None, {name: batch.astype(np.float32)})
        largest = max(largest, float(np.max(np.abs(expected - np.asarray(actual).reshape(expected.shape)))))
    return largest


def checked_export(
    keras_path: Path,
    onnx_path: Path,
    inputs: list[np.ndarray],
    *,
    input_shape: tuple[int | None, ...],
    input_name: str,
    output_name: str,
) -> float:
    """Export and check parity; on failure the ONNX file is removed and :class:`ParityError` raised."""
    export_onnx(keras_path, onnx_path, input_shape=input_shape, input_name=input_name, output_name=output_name)
    difference = parity(keras_path, onnx_path, inputs)
    if not difference <= PARITY_TOLERANCE:
        onnx_path.unlink(missing_ok=True)
        raise ParityError(f"ONNX differs from Keras by {difference:.2e} (> {PARITY_TOLERANCE:.0e}); export refused")
    return difference


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes: the card records it so the service can refuse a model swapped under its card."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
