"""Quality benchmark: does sampleChop put chops where producers would, better than today's choppers?

On real drum recordings with human beat, bar-position and onset annotations (``../shared/data/dev/mdb_drums``),
for K chops a record:

- P@beat / P@downbeat: share of chop points within ±70 ms of an annotated beat / downbeat;
- P@onset: share within ±50 ms of an annotated drum onset;
- diversity: mean pairwise chroma distance between the chops (the 1 s after each point), relative to sampleChop
  with λ = 0 (the top-K by probability).

Baselines in the same run: random points (mean of 20 seeds), librosa onsets top-K by onset strength (0.25 s
apart), librosa beats top-K by onset strength, a bar grid (every 4th tracked beat, top-K by strength).

    python bench/quality.py                       # the shipped model
    python bench/quality.py --model new.onnx --compare service/models/default.onnx --gate
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service.engine import DEFAULT_MODEL_PATH, ChopModel, ChopParams, Chopper  # noqa: E402

DEV_DIR = REPO.parent / "shared" / "data" / "dev" / "mdb_drums"
BEAT_TOLERANCE_S = 0.070
ONSET_TOLERANCE_S = 0.050
RATE = 22_050
HOP = 512


@dataclass
class DevRecord:
    name: str
    path: Path
    audio: np.ndarray  # mono at RATE, for baselines and chroma
    beats: np.ndarray
    downbeats: np.ndarray
    onsets: np.ndarray


def load_dev(dev_dir: Path) -> list[DevRecord]:
    records = []
    for wav in sorted((dev_dir / "audio").glob("*.wav")):
        stem = wav.stem.removesuffix("_Drum")
        beats = np.loadtxt(dev_dir / "beats" / f"{stem}.beats", ndmin=2)
        onsets = np.loadtxt(dev_dir / "onsets" / f"{stem}.onsets", ndmin=2, usecols=0)
        audio, _ = librosa.load(wav, sr=RATE, mono=True)
        records.append(
            DevRecord(stem, wav, audio, beats[:, 0], beats[beats[:, 1] == 1, 0], np.sort(np.atleast_1d(onsets)))
        )
    return records


def hit_rate(points: np.ndarray, events: np.ndarray, tolerance: float) -> float:
    if points.size == 0:
        return 0.0
    return float(np.mean([np.min(np.abs(events - p)) <= tolerance for p in points]))


def chroma_diversity(audio: np.ndarray, points: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between the normalised mean chroma of the 1 s after each point."""
    if points.size < 2:
        return 0.0
    vectors = []
    for point in points:
        segment = audio[int(point * RATE) : int((point + 1.0) * RATE)]
        if segment.size < HOP * 2:
            segment = np.pad(segment, (0, HOP * 2 - segment.size))
        chroma = librosa.feature.chroma_stft(y=segment, sr=RATE, hop_length=HOP, n_fft=2048).mean(axis=1)
        vectors.append(chroma / (np.linalg.norm(chroma) + 1e-9))
    vectors = np.asarray(vectors)
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    return float(distances[np.triu_indices(len(points), 1)].mean())


def strongest(times: np.ndarray, strength: np.ndarray, k: int, min_gap_s: float = 0.25) -> np.ndarray:
    """Top-k times by onset strength, at least ``min_gap_s`` apart."""
    frames = librosa.time_to_frames(times, sr=RATE, hop_length=HOP)
    scores = strength[np.clip(frames, 0, strength.size - 1)]
    chosen: list[float] = []
    for index in np.argsort(-scores, kind="stable"):
        if all(abs(times[index] - c) >= min_gap_s for c in chosen):
            chosen.append(float(times[index]))
        if len(chosen) == k:
            break
    return np.sort(np.asarray(chosen))


def baselines(record: DevRecord, k: int) -> dict[str, Callable[[], np.ndarray] | list[np.ndarray]]:
    strength = librosa.onset.onset_strength(y=record.audio, sr=RATE, hop_length=HOP)
    onset_times = librosa.onset.onset_detect(onset_envelope=strength, sr=RATE, hop_length=HOP, units="time")
    _, beat_frames = librosa.beat.beat_track(onset_envelope=strength, sr=RATE, hop_length=HOP)
    beat_times = librosa.frames_to_time(beat_frames, sr=RATE, hop_length=HOP)
    duration = record.audio.size / RATE
    return {
        "random (20 seeds)": [np.sort(np.random.default_rng(s).uniform(0, duration, k)) for s in range(20)],
        "librosa onsets": [strongest(onset_times, strength, k)],
        "librosa beats": [strongest(beat_times, strength, k)],
        "bar grid": [strongest(beat_times[::4], strength, k)],
    }


def score(record: DevRecord, points: np.ndarray) -> dict[str, float]:
    return {
        "P@beat": hit_rate(points, record.beats, BEAT_TOLERANCE_S),
        "P@downbeat": hit_rate(points, record.downbeats, BEAT_TOLERANCE_S),
        "P@onset": hit_rate(points, record.onsets, ONSET_TOLERANCE_S),
        "diversity": chroma_diversity(record.audio, points),
    }


def sample_chop_points(chopper: Chopper, record: DevRecord, params: ChopParams) -> np.ndarray:
    return np.asarray([chop.start for chop in chopper.chop(record.path, params).result.chops])


def evaluate(records: list[DevRecord], models: dict[str, Path], k: int, top_n: int, diversity: float) -> dict:
    rows: dict[str, list[dict[str, float]]] = {}
    reference: list[float] = []  # per record: diversity of the top-K by probability (λ = 0), first model
    for number, (label, model_path) in enumerate(models.items()):
        chopper = Chopper(ChopModel(model_path))
        for record in records:
            points = sample_chop_points(chopper, record, ChopParams(chops=k, top_n=top_n, diversity=diversity))
            rows.setdefault(label, []).append(score(record, points))
            if number == 0:
                top = sample_chop_points(chopper, record, ChopParams(chops=k, top_n=top_n, diversity=0.0))
                reference.append(chroma_diversity(record.audio, top))
                rows.setdefault(f"{label} λ=0", []).append(score(record, top))
    for record in records:
        for label, runs in baselines(record, k).items():
            scores = [score(record, points) for points in runs]
            rows.setdefault(label, []).append({key: float(np.mean([s[key] for s in scores])) for key in scores[0]})
    table = {}
    for label, per_record in rows.items():
        mean = {key: float(np.mean([r[key] for r in per_record])) for key in per_record[0]}
        mean["diversity_ratio"] = float(
            np.mean([r["diversity"] / ref if ref > 0 else 0.0 for r, ref in zip(per_record, reference, strict=True)])
        )
        table[label] = mean
    return table


def print_table(table: dict, k: int, records: int) -> None:
    print(f"\nquality on mdb_drums ({records} records, K = {k} chops each)\n")
    header = f"| {'chopper':<34} | P@beat | P@downbeat | P@onset | diversity vs top-{k} |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for label, m in table.items():
        print(
            f"| {label:<34} | {m['P@beat']:6.3f} | {m['P@downbeat']:10.3f} | {m['P@onset']:7.3f} |"
            f" {m['diversity_ratio']:16.2f}× |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--compare", type=Path, default=None, help="a second model scored in the same run")
    parser.add_argument("--gate", action="store_true", help="exit 1 if --model is worse than --compare")
    parser.add_argument("--dev", type=Path, default=DEV_DIR)
    parser.add_argument("--chops", type=int, default=8)
    parser.add_argument("--top-n", type=int, default=16)
    parser.add_argument("--lambda", dest="diversity", type=float, default=0.999)
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    if not (args.dev / "audio").is_dir():
        print(f"quality: no dev set at {args.dev}", file=sys.stderr)
        return 2
    records = load_dev(args.dev)
    models = {"sampleChop": args.model}
    if args.compare:
        models["sampleChop (compare)"] = args.compare
    table = evaluate(records, models, args.chops, args.top_n, args.diversity)
    print_table(table, args.chops, len(records))
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    if args.gate and args.compare:
        new, old = table["sampleChop"], table["sampleChop (compare)"]
        worse = [key for key in ("P@beat", "P@downbeat", "P@onset") if new[key] < old[key] - 0.02]
        if worse:
            print(f"gate: the new model is worse on {', '.join(worse)}", file=sys.stderr)
            return 1
        print("gate: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
