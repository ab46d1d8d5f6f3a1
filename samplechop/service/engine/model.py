"""The chop network: an ONNX model and its model card, run with onnxruntime over a whole record at once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from samplechop.shared_features import FEATURE_SPEC, FeatureSpec

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "default.onnx"
HEADS = ("beat", "downbeat", "chop")


class ModelLoadError(RuntimeError):
    """The model or its card is missing, unreadable, not the file the card describes, or for another spec."""


def card_path_for(model_path: Path) -> Path:
    """``model.onnx`` → ``model.card.json`` beside it."""
    return model_path.with_suffix(".card.json")


@dataclass(frozen=True)
class Activations:
    """Per-frame network outputs in [0, 1], each (frames,) float32: a beat (downbeats included), a downbeat, a
    chop point (bar start, phrase start, chord change) at that frame."""

    beat: np.ndarray
    downbeat: np.ndarray
    chop: np.ndarray

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Activations:
        columns = np.ascontiguousarray(np.asarray(matrix, dtype=np.float32).reshape(-1, len(HEADS)).T)
        return cls(beat=columns[0], downbeat=columns[1], chop=columns[2])


class FrameModel(Protocol):
    """Anything that turns a record's model input into activations (the network, or an ablation's stand-in)."""

    @property
    def model_id(self) -> str: ...  # read-only: ChopModel's is its card's, a plain attribute satisfies it too

    def predict(self, model_input: np.ndarray) -> Activations: ...


@dataclass(frozen=True)
class ModelCard:
    model_id: str
    feature_spec: FeatureSpec
    onnx_sha256: str
    raw: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            raw = json.loads(path.read_text())
            return cls(
                model_id=str(raw["model_id"]),
                feature_spec=FeatureSpec.from_dict(raw["feature_spec"]),
                onnx_sha256=str(raw["onnx_sha256"]),
                raw=raw,
            )
        except FileNotFoundError as error:
            raise ModelLoadError(f"model card not found: {path}") from error
        except (KeyError, TypeError, ValueError) as error:
            raise ModelLoadError(f"model card {path} is malformed or from an older trainer: {error}") from error


class ChopModel:
    """A loaded chop network: one onnxruntime session, created once, fed a whole record in one call."""

    def __init__(self, model_path: Path = DEFAULT_MODEL_PATH, *, threads: int = 0) -> None:
        model_path = Path(model_path)
        self.path = model_path
        self.card = ModelCard.load(card_path_for(model_path))
        if self.card.feature_spec != FEATURE_SPEC:
            raise ModelLoadError(
                f"model {self.card.model_id} was trained on feature spec {self.card.feature_spec.version}, "
                f"but this build computes feature spec {FEATURE_SPEC.version}; retrain or use a matching model"
            )
        try:
            model_bytes = model_path.read_bytes()
        except OSError as error:
            raise ModelLoadError(f"cannot read ONNX model {model_path}: {error}") from error
        if hashlib.sha256(model_bytes).hexdigest() != self.card.onnx_sha256:
            raise ModelLoadError(
                f"{model_path} is not the model its card {card_path_for(model_path).name} describes "
                "(sha256 differs): export it again with samplechop-train"
            )
        self.session = open_session(model_bytes, threads=threads, name=str(model_path))
        self.input_name = self.session.get_inputs()[0].name
        width = self.session.get_inputs()[0].shape[-1]
        if isinstance(width, int) and width != FEATURE_SPEC.n_features:
            raise ModelLoadError(f"model input width {width} != feature width {FEATURE_SPEC.n_features}")

    @property
    def model_id(self) -> str:
        return self.card.model_id

    def predict(self, model_input: np.ndarray) -> Activations:
        """Activations of every frame of one record: (frames, n_features) → three (frames,) arrays."""
        if model_input.shape[0] == 0:
            return Activations.from_matrix(np.zeros((0, len(HEADS)), dtype=np.float32))
        return Activations.from_matrix(session_outputs(self.session, model_input))


def open_session(model: Path | bytes, *, threads: int = 0, name: str | None = None) -> ort.InferenceSession:
    """An onnxruntime session over an ONNX model (a path or its bytes) on the CPU, as the engine runs it:
    ``threads`` intra-op threads (0: onnxruntime's choice, one per core) and one inter-op thread (the network is
    one chain of operators, run in sequence). No card check: :class:`ChopModel` checks the card first, the trainer
    opens a model it has just exported. ``name`` names the model in the error (the path by default).

    Raises ModelLoadError when onnxruntime cannot load it.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            str(model) if isinstance(model, Path) else model, options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own untyped exceptions for unreadable models
        where = name or (str(model) if isinstance(model, Path) else "from bytes")
        raise ModelLoadError(f"cannot load ONNX model {where}: {error}") from error


def session_outputs(session: ort.InferenceSession, model_input: np.ndarray) -> np.ndarray:
    """The network's raw outputs for one record: (frames, n_features) → (frames, heads) float32, the whole record
    in one call (a batch of one)."""
    batch = np.ascontiguousarray(model_input[None], dtype=np.float32)
    (output,) = session.run(None, {session.get_inputs()[0].name: batch})
    outputs: np.ndarray = np.asarray(output)[0]
    return outputs
