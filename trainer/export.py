"""Export to ONNX with tf2onnx, refusing any export that does not match Keras on held-out frames."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from shared_features import FEATURE_SPEC

PARITY_TOLERANCE = 1e-5
OPSET = 17


class ParityError(RuntimeError):
    """The ONNX model's outputs differ from Keras's by more than the tolerance."""


def export_onnx(keras_path: Path, onnx_path: Path) -> None:
    """Convert a saved Keras model to ONNX through a ``tf.function`` with a fixed input signature.

    ``tf2onnx.convert.from_keras`` fails on Keras 3; ``from_function`` on the traced call does not.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.models.load_model(keras_path)
    signature = (tf.TensorSpec((None, FEATURE_SPEC.window_width), tf.float32, name="windows"),)

    @tf.function(input_signature=signature)
    def forward(windows):
        return {"chop_probability": model(windows, training=False)}

    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    partial = onnx_path.with_name(f".{onnx_path.name}.partial")
    tf2onnx.convert.from_function(forward, input_signature=signature, opset=OPSET, output_path=str(partial))
    partial.replace(onnx_path)


def parity(keras_path: Path, onnx_path: Path, windows: np.ndarray) -> float:
    """Largest absolute difference between Keras and onnxruntime outputs on ``windows``."""
    import keras
    import onnxruntime as ort

    model = keras.models.load_model(keras_path)
    expected = np.asarray(model.predict(windows, batch_size=4096, verbose=0)).reshape(-1)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {session.get_inputs()[0].name: windows.astype(np.float32)})
    return float(np.max(np.abs(expected - np.asarray(actual).reshape(-1))))


def checked_export(keras_path: Path, onnx_path: Path, windows: np.ndarray) -> float:
    """Export and check parity; on failure the ONNX file is removed and :class:`ParityError` raised."""
    export_onnx(keras_path, onnx_path)
    difference = parity(keras_path, onnx_path, windows)
    if not difference <= PARITY_TOLERANCE:
        onnx_path.unlink(missing_ok=True)
        raise ParityError(f"ONNX differs from Keras by {difference:.2e} (> {PARITY_TOLERANCE:.0e}); export refused")
    return difference


def model_id_of(onnx_path: Path) -> str:
    """A model id naming the feature version and the file's content: ``chop-f<version>-<sha256[:12]>``."""
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:12]
    return f"chop-f{FEATURE_SPEC.version}-{digest}"
