"""Scoring a chop model: frame metrics on the synthetic validation records and PR-AUC on real annotated drums."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.metrics import average_precision_score, precision_score, recall_score

from shared_features import FEATURE_SPEC, decode_audio, record_features
from trainer.dataset import load_split

DEV_TOLERANCE_S = 0.070
DEFAULT_DEV_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev" / "mdb_drums"


def onnx_session(onnx_path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


def predict(session: ort.InferenceSession, windows: np.ndarray) -> np.ndarray:
    (output,) = session.run(None, {session.get_inputs()[0].name: windows.astype(np.float32)})
    return np.asarray(output).reshape(-1)


def frame_metrics(y: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    predicted = probabilities >= threshold
    return {
        "pr_auc": float(average_precision_score(y, probabilities)),
        "chance": float(y.mean()),
        f"precision@{threshold}": float(precision_score(y, predicted, zero_division=0)),
        f"recall@{threshold}": float(recall_score(y, predicted, zero_division=0)),
        "frames": int(y.size),
    }


def validation_metrics(onnx_path: Path, dataset_dir: Path) -> dict[str, float]:
    """Frame precision/recall/PR-AUC on the unshifted frames of the validation records."""
    x, y, _ = load_split(dataset_dir, "val", unshifted_only=True)
    probabilities = predict(onnx_session(onnx_path), x)
    return {**frame_metrics(y, probabilities, 0.5), **{k: v for k, v in frame_metrics(y, probabilities, 0.7).items()}}


def read_beats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(beat times s, position in bar) from a ``time<TAB>position`` file."""
    rows = np.loadtxt(path, ndmin=2)
    return rows[:, 0], rows[:, 1].astype(int)


def near_events(n_frames: int, events_s: np.ndarray, tolerance_s: float) -> np.ndarray:
    """0/1 per frame: 1 where the frame's time is within ``tolerance_s`` of an event."""
    times = np.arange(n_frames) * FEATURE_SPEC.frame_duration_s
    if events_s.size == 0:
        return np.zeros(n_frames, dtype=np.uint8)
    positions = np.searchsorted(events_s, times)
    before = np.abs(times - events_s[np.clip(positions - 1, 0, events_s.size - 1)])
    after = np.abs(events_s[np.clip(positions, 0, events_s.size - 1)] - times)
    return (np.minimum(before, after) <= tolerance_s).astype(np.uint8)


def dev_metrics(onnx_path: Path, dev_dir: Path = DEFAULT_DEV_DIR) -> dict[str, float] | None:
    """PR-AUC of frame probabilities against downbeats and beats (±70 ms) on the real drum stems.

    Returns None when the dev set is not present. ``*_lift`` is PR-AUC divided by chance (the positive share).
    """
    audio_dir = dev_dir / "audio"
    if not audio_dir.is_dir():
        return None
    session = onnx_session(onnx_path)
    probabilities, downbeat_targets, beat_targets = [], [], []
    for wav in sorted(audio_dir.glob("*.wav")):
        beats_path = dev_dir / "beats" / (wav.stem.removesuffix("_Drum") + ".beats")
        if not beats_path.exists():
            continue
        beat_times, positions = read_beats(beats_path)
        windows, _ = record_features(decode_audio(wav, FEATURE_SPEC.sample_rate).mono)
        probabilities.append(predict(session, windows))
        downbeat_targets.append(near_events(windows.shape[0], beat_times[positions == 1], DEV_TOLERANCE_S))
        beat_targets.append(near_events(windows.shape[0], beat_times, DEV_TOLERANCE_S))
    if not probabilities:
        return None
    p = np.concatenate(probabilities)
    metrics: dict[str, float] = {"records": len(probabilities)}
    for name, targets in (("downbeat", downbeat_targets), ("beat", beat_targets)):
        y = np.concatenate(targets)
        metrics[f"{name}_pr_auc"] = float(average_precision_score(y, p))
        metrics[f"{name}_chance"] = float(y.mean())
        metrics[f"{name}_lift"] = metrics[f"{name}_pr_auc"] / max(metrics[f"{name}_chance"], 1e-12)
    return metrics
