"""Speed benchmark: per-stage time to chop a 3-minute stereo 44.1 kHz record, against librosa onset detection.

The record is built from ``../shared/data/listen`` (real music, looped to 3 minutes). Each figure is the median of
``--repeat`` runs in this process, printed as seconds and as a ratio to the baseline measured in the same run:
decoding the same file with librosa and running ``librosa.onset.onset_detect`` on it.

    python bench/speed.py [--seconds 180] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service.engine import ChopModel, ChopParams, Chopper, zip_bytes  # noqa: E402

LISTEN_DIR = REPO.parent / "shared" / "data" / "listen"


def make_record(path: Path, seconds: float) -> Path:
    """A stereo 44.1 kHz WAV of ``seconds``, real music from the listen set (looped), or a synthetic one."""
    rate = 44_100
    pieces, total = [], 0
    sources = sorted(LISTEN_DIR.glob("*.ogg"))
    while total < seconds * rate and sources:
        for source in sources:
            audio, source_rate = sf.read(source, dtype="float32", always_2d=True)
            if source_rate != rate:
                continue
            stereo = audio if audio.shape[1] == 2 else np.repeat(audio[:, :1], 2, axis=1)
            pieces.append(stereo)
            total += stereo.shape[0]
    if not pieces:
        from tests.synth import beat_record

        pieces = [beat_record(seconds, channels=2).audio]
    record = np.concatenate(pieces)[: int(seconds * rate)]
    sf.write(path, record, rate, subtype="PCM_16")
    return path


def baseline(path: Path) -> float:
    started = time.perf_counter()
    audio, rate = librosa.load(path, sr=None, mono=True)
    librosa.onset.onset_detect(y=audio, sr=rate)
    return time.perf_counter() - started


def chop_once(chopper: Chopper, path: Path) -> dict[str, float]:
    started = time.perf_counter()
    record = chopper.chop(path, ChopParams())
    json_done = time.perf_counter()
    zip_bytes(record)
    finished = time.perf_counter()
    stages = dict(record.result.timings_s)
    stages["slicing + zip"] = finished - json_done
    stages["total (JSON result)"] = json_done - started
    stages["total (slices + zip)"] = finished - started
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = make_record(Path(folder) / "record.wav", args.seconds)
        chopper = Chopper(ChopModel())
        chop_once(chopper, path)  # warm-up: numba compiles, onnxruntime allocates
        baseline(path)
        runs = [chop_once(chopper, path) for _ in range(args.repeat)]
        base = statistics.median(baseline(path) for _ in range(args.repeat))
    print(f"\nspeed: {args.seconds:.0f} s stereo 44.1 kHz record, median of {args.repeat} runs\n")
    print(f"| {'stage':<22} | seconds | × baseline |")
    print(f"|{'-' * 24}|---------|------------|")
    for stage in runs[0]:
        value = statistics.median(run[stage] for run in runs)
        print(f"| {stage:<22} | {value:7.3f} | {value / base:9.2f}× |")
    print(f"| {'librosa onset detect':<22} | {base:7.3f} | {1.0:9.2f}× |")
    json_ratio = statistics.median(run["total (JSON result)"] for run in runs) / base
    zip_ratio = statistics.median(run["total (slices + zip)"] for run in runs) / base
    print(f"\nJSON result {json_ratio:.2f}× baseline (target ≤ 1.5×); slices {zip_ratio:.2f}× (target ≤ 2×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
