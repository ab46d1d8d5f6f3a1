"""The seed recipe's dataset build (feature spec 1, one row per frame): rendered records + chop labels → sharded
arrays of model inputs and targets on disk.

Layout of a dataset directory::

    index.json            records, their split (train/val), shard of each, counts, feature spec
    shard_000.npz ...     x (rows, window_width) float32, y (rows,) uint8, record (rows,) int32, shift (rows,) int8

Every frame of a record gives one row (shift 0); each positive frame gives one more row per pitch shift in
−3…+3 semitones. Records, not frames, are split between train and validation so no record leaks across.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from samplechop.shared_features.audio import decode_audio
from samplechop.trainer.annotations import frame_labels, read_chop_times
from samplechop.trainer.seed.augment import MAX_SHIFT, extended_cqt, shifted_summed_cqt
from samplechop.trainer.seed.features import SEED_SPEC, feature_windows, record_features
from samplechop.trainer.sequences import assign_splits

SHIFTS = tuple(s for s in range(-MAX_SHIFT, MAX_SHIFT + 1) if s != 0)


@dataclass(frozen=True)
class RecordRows:
    x: np.ndarray
    y: np.ndarray
    shift: np.ndarray
    duration_s: float


def record_rows(wav_path: Path, labels_path: Path, augment: bool = True) -> RecordRows:
    """All rows of one record: every frame unshifted, plus pitch-shifted copies of the positive frames."""
    spec = SEED_SPEC
    audio = decode_audio(wav_path, spec.sample_rate)
    windows, _ = record_features(audio.mono, spec)
    labels = frame_labels(read_chop_times(labels_path), windows.shape[0], spec.hop_length, spec.sample_rate)
    xs, ys, shifts = [windows], [labels], [np.zeros(labels.size, dtype=np.int8)]
    positives = np.flatnonzero(labels)
    if augment and positives.size:
        extended = extended_cqt(audio.mono, spec)
        for semitones in SHIFTS:
            shifted = feature_windows(shifted_summed_cqt(extended, semitones, spec), spec)
            xs.append(shifted[positives])
            ys.append(np.ones(positives.size, dtype=np.uint8))
            shifts.append(np.full(positives.size, semitones, dtype=np.int8))
    return RecordRows(np.concatenate(xs), np.concatenate(ys), np.concatenate(shifts), audio.duration_s)


def corpus_records(corpus_dir: Path) -> list[tuple[Path, Path]]:
    """(audio, labels) pairs of a corpus directory: every ``NAME.wav`` with a ``NAME.txt`` beside it."""
    pairs = [(wav, wav.with_suffix(".txt")) for wav in sorted(Path(corpus_dir).glob("*.wav"))]
    return [(wav, txt) for wav, txt in pairs if txt.exists()]


def _rows_job(args: tuple[Path, Path, bool]) -> RecordRows:
    return record_rows(*args)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def build_dataset(
    corpus_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    val_fraction: float = 0.15,
    records_per_shard: int = 32,
    workers: int = 2,
    augment: bool = True,
    progress: bool = True,
) -> dict:
    """Build the sharded dataset of a corpus; returns (and writes) the index."""
    pairs = corpus_records(corpus_dir)
    if not pairs:
        raise FileNotFoundError(f"no NAME.wav + NAME.txt records in {corpus_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = assign_splits([wav.stem for wav, _ in pairs], seed, val_fraction)
    started = time.perf_counter()
    index: dict = {
        "corpus_dir": str(corpus_dir),
        "feature_spec": SEED_SPEC.to_dict(),
        "shifts": list(SHIFTS),
        "seed": seed,
        "records": [],
        "shards": [],
    }
    audio_seconds = 0.0
    bar = tqdm(total=len(pairs), desc="dataset", unit="record", disable=not progress)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for shard_number, chunk in enumerate(_chunks(pairs, records_per_shard)):
            rows = list(pool.map(_rows_job, [(wav, txt, augment) for wav, txt in chunk]))
            record_ids = []
            for offset, ((wav, _), record) in enumerate(zip(chunk, rows, strict=True)):
                record_id = shard_number * records_per_shard + offset
                record_ids.append(np.full(record.y.size, record_id, dtype=np.int32))
                audio_seconds += record.duration_s
                index["records"].append(
                    {
                        "id": record_id,
                        "name": wav.stem,
                        "split": splits[wav.stem],
                        "shard": shard_number,
                        "rows": int(record.y.size),
                        "positives": int(record.y.sum()),
                        "duration_s": round(record.duration_s, 3),
                    }
                )
            shard_name = f"shard_{shard_number:03d}.npz"
            partial = out_dir / f".{shard_name}.partial.npz"
            np.savez(
                partial,
                x=np.concatenate([r.x for r in rows]),
                y=np.concatenate([r.y for r in rows]),
                record=np.concatenate(record_ids),
                shift=np.concatenate([r.shift for r in rows]),
            )
            partial.replace(out_dir / shard_name)
            index["shards"].append(shard_name)
            bar.update(len(chunk))
    bar.close()
    elapsed = time.perf_counter() - started
    index["build"] = {
        "audio_s": round(audio_seconds, 1),
        "wall_s": round(elapsed, 2),
        "realtime_factor": round(audio_seconds / elapsed, 1),
        "workers": workers,
    }
    (out_dir / "index.json").write_text(json.dumps(index, indent=2))
    return index


def load_split(
    dataset_dir: Path, split: str, *, unshifted_only: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, record ids) of every row of one split; ``unshifted_only`` drops augmented copies (for evaluation)."""
    index = json.loads((Path(dataset_dir) / "index.json").read_text())
    wanted = {r["id"] for r in index["records"] if r["split"] == split}
    xs, ys, ids = [], [], []
    for shard_name in index["shards"]:
        with np.load(Path(dataset_dir) / shard_name) as shard:
            keep = np.isin(shard["record"], list(wanted))
            if unshifted_only:
                keep &= shard["shift"] == 0
            xs.append(shard["x"][keep])
            ys.append(shard["y"][keep])
            ids.append(shard["record"][keep])
    width = SEED_SPEC.window_width
    if not xs:
        return np.zeros((0, width), np.float32), np.zeros(0, np.uint8), np.zeros(0, np.int32)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ids)
