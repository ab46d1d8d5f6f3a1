"""Dataset build for the sequence network: rendered records → per-frame features and beat/downbeat/chop targets.

Layout of a dataset directory::

    index.json        feature spec, seed, the records (name, split, first row, frames, seconds), build figures
    features.npy      (rows, n_features) float16: every frame of every record, record after record
    targets.npy       (rows, 3) uint8: 1 on the frame nearest a beat / downbeat / chop point (HEADS order)

The network reads whole stretches of a record (it sees seconds of context through dilated convolutions), so a
record's frames stay together and in order; records, not frames, are split into train and validation.
"""

from __future__ import annotations

import json
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from samplechop.shared_features import FEATURE_SPEC, compute_features, decode_audio
from samplechop.trainer.annotations import read_beat_rows, read_chop_times

# The network's three per-frame outputs, in this order everywhere (targets, ONNX output, engine).
HEADS = ("beat", "downbeat", "chop")


@dataclass(frozen=True)
class RecordSequence:
    features: np.ndarray  # (frames, n_features) float16
    targets: np.ndarray  # (frames, 3) uint8
    duration_s: float


def event_frames(times_s: np.ndarray, n_frames: int, frame_rate_hz: float) -> np.ndarray:
    """Frame indices nearest each event time, those outside the record dropped; sorted, unique, int64."""
    frames = np.rint(np.asarray(times_s, dtype=np.float64) * frame_rate_hz).astype(np.int64)
    return np.unique(frames[(frames >= 0) & (frames < n_frames)])


def record_targets(
    beats_s: np.ndarray, positions: np.ndarray, chops_s: np.ndarray, n_frames: int, frame_rate_hz: float
) -> np.ndarray:
    """(frames, 3) uint8 targets: 1 on the frame nearest each beat (downbeats included), downbeat, chop point."""
    targets = np.zeros((n_frames, len(HEADS)), dtype=np.uint8)
    targets[event_frames(beats_s, n_frames, frame_rate_hz), 0] = 1
    targets[event_frames(beats_s[positions == 1], n_frames, frame_rate_hz), 1] = 1
    targets[event_frames(chops_s, n_frames, frame_rate_hz), 2] = 1
    return targets


def record_sequence(wav_path: Path) -> RecordSequence:
    """Features and targets of one rendered record (``NAME.wav`` with ``NAME.beats`` and ``NAME.txt`` beside it)."""
    spec = FEATURE_SPEC
    audio = decode_audio(wav_path, spec.sample_rate)
    features = compute_features(audio.mono, spec)
    n_frames = features.model_input.shape[0]
    beats_s, positions = read_beat_rows(wav_path.with_suffix(".beats"))
    targets = record_targets(
        beats_s, positions, read_chop_times(wav_path.with_suffix(".txt")), n_frames, spec.frame_rate_hz
    )
    return RecordSequence(features.model_input.astype(np.float16), targets, audio.duration_s)


def _bucket(name: str, seed: int) -> float:
    return zlib.crc32(f"{seed}:{name}".encode()) / 0xFFFFFFFF


def assign_splits(names: list[str], seed: int, val_fraction: float) -> dict[str, str]:
    """'train' or 'val' for each record, fixed by its name and the seed (stable when records are added).

    With two or more records each split gets at least one, so validation is never empty.
    """
    buckets = {name: _bucket(name, seed) for name in names}
    splits = {name: "val" if bucket < val_fraction else "train" for name, bucket in buckets.items()}
    if len(names) >= 2 and "val" not in splits.values():
        splits[min(buckets, key=buckets.__getitem__)] = "val"
    if len(names) >= 2 and "train" not in splits.values():
        splits[max(buckets, key=buckets.__getitem__)] = "train"
    return splits


def corpus_wavs(corpus_dir: Path) -> list[Path]:
    """Every ``NAME.wav`` of a corpus directory that has its ``NAME.beats`` and ``NAME.txt`` labels beside it."""
    wavs = sorted(Path(corpus_dir).glob("*.wav"))
    return [wav for wav in wavs if wav.with_suffix(".beats").exists() and wav.with_suffix(".txt").exists()]


def build_dataset(
    corpus_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    val_fraction: float = 0.15,
    workers: int = 2,
    progress: bool = True,
) -> dict:
    """Build the dataset of a corpus; returns (and writes) the index. Deterministic whatever ``workers`` is."""
    wavs = corpus_wavs(corpus_dir)
    if not wavs:
        raise FileNotFoundError(f"no NAME.wav + NAME.beats + NAME.txt records in {corpus_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = assign_splits([wav.stem for wav in wavs], seed, val_fraction)
    started = time.perf_counter()
    bar = tqdm(total=len(wavs), desc="dataset", unit="record", disable=not progress)
    sequences: list[RecordSequence] = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for sequence in pool.map(record_sequence, wavs, chunksize=4):
            sequences.append(sequence)
            bar.update()
    bar.close()
    records, first_row = [], 0
    for wav, sequence in zip(wavs, sequences, strict=True):
        frames = int(sequence.targets.shape[0])
        records.append(
            {
                "name": wav.stem,
                "split": splits[wav.stem],
                "first_row": first_row,
                "frames": frames,
                "duration_s": round(sequence.duration_s, 3),
                "positives": [int(v) for v in sequence.targets.sum(axis=0)],
            }
        )
        first_row += frames
    _save_atomic(out_dir / "features.npy", np.concatenate([s.features for s in sequences]))
    _save_atomic(out_dir / "targets.npy", np.concatenate([s.targets for s in sequences]))
    elapsed = time.perf_counter() - started
    audio_s = sum(s.duration_s for s in sequences)
    index = {
        "corpus_dir": str(corpus_dir),
        "feature_spec": FEATURE_SPEC.to_dict(),
        "heads": list(HEADS),
        "seed": seed,
        "records": records,
        "build": {
            "audio_s": round(audio_s, 1),
            "wall_s": round(elapsed, 2),
            "realtime_factor": round(audio_s / max(elapsed, 1e-9), 1),
            "workers": workers,
        },
    }
    (out_dir / "index.json").write_text(json.dumps(index, indent=1))
    return index


def _save_atomic(path: Path, array: np.ndarray) -> None:
    partial = path.with_name(f".{path.name}.partial.npy")
    np.save(partial, array)
    partial.replace(path)


@dataclass(frozen=True)
class Dataset:
    """A built dataset in memory: all frames, their targets and where each record lies."""

    features: np.ndarray
    targets: np.ndarray
    records: list[dict]
    index: dict

    def split(self, name: str) -> list[tuple[int, int]]:
        """(first row, frames) of every record of one split, in index order."""
        return [(r["first_row"], r["frames"]) for r in self.records if r["split"] == name]


def load_dataset(dataset_dir: Path) -> Dataset:
    dataset_dir = Path(dataset_dir)
    index = json.loads((dataset_dir / "index.json").read_text())
    if index["feature_spec"] != FEATURE_SPEC.to_dict():
        raise ValueError(
            f"dataset {dataset_dir} was built with feature spec {index['feature_spec'].get('version')}, "
            f"this build computes spec {FEATURE_SPEC.version}: rebuild it"
        )
    return Dataset(
        features=np.load(dataset_dir / "features.npy"),
        targets=np.load(dataset_dir / "targets.npy"),
        records=index["records"],
        index=index,
    )
