"""The chop model: an ONNX classifier and its model card, run with onnxruntime."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from shared_features import FEATURE_SPEC, FeatureSpec

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "default.onnx"


class ModelLoadError(RuntimeError):
    """The model or its card is missing, unreadable, or made for another feature spec."""


def card_path_for(model_path: Path) -> Path:
    """``model.onnx`` → ``model.card.json`` beside it."""
    return model_path.with_suffix(".card.json")


@dataclass(frozen=True)
class ModelCard:
    model_id: str
    feature_spec: FeatureSpec
    raw: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            raw = json.loads(path.read_text())
            return cls(model_id=str(raw["model_id"]), feature_spec=FeatureSpec.from_dict(raw["feature_spec"]), raw=raw)
        except FileNotFoundError as error:
            raise ModelLoadError(f"model card not found: {path}") from error
        except (KeyError, TypeError, ValueError) as error:
            raise ModelLoadError(f"model card {path} is malformed: {error}") from error


class ChopModel:
    """A loaded chop classifier: one onnxruntime session, created once, fed whole records in one batch."""

    def __init__(self, model_path: Path = DEFAULT_MODEL_PATH, *, threads: int = 0) -> None:
        model_path = Path(model_path)
        self.path = model_path
        self.card = ModelCard.load(card_path_for(model_path))
        if self.card.feature_spec != FEATURE_SPEC:
            raise ModelLoadError(
                f"model {self.card.model_id} was trained on feature spec {self.card.feature_spec.version} "
                f"{self.card.feature_spec.to_dict()}, but this build computes feature spec {FEATURE_SPEC.version} "
                f"{FEATURE_SPEC.to_dict()}; retrain or use a matching model"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped exceptions for unreadable models
            raise ModelLoadError(f"cannot load ONNX model {model_path}: {error}") from error
        self.input_name = self.session.get_inputs()[0].name
        width = self.session.get_inputs()[0].shape[-1]
        if isinstance(width, int) and width != FEATURE_SPEC.window_width:
            raise ModelLoadError(f"model input width {width} != feature window width {FEATURE_SPEC.window_width}")

    @property
    def model_id(self) -> str:
        return self.card.model_id

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Chop probability of every frame: (frames, window_width) → (frames,), float32 in [0, 1]."""
        if windows.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        (output,) = self.session.run(None, {self.input_name: np.ascontiguousarray(windows, dtype=np.float32)})
        return np.asarray(output, dtype=np.float32).reshape(-1)
