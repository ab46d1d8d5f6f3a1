"""Dataset-build benchmark: how fast `samplechop-train build` turns rendered records into features and targets.

Renders a small corpus (the trainer's own renderer, at the analysis rate), builds the dataset twice with 2 workers,
and prints the build's real-time factor (seconds of audio per second of wall time) beside a baseline run in the same
process: librosa loading every record and computing its onset envelope (one analysis pass of comparable cost).

    python bench/dataset_build.py --records 40
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import librosa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from samplechop.shared_features import FEATURE_SPEC  # noqa: E402
from samplechop.trainer.corpus import render_corpus  # noqa: E402
from samplechop.trainer.sequences import build_dataset  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus"
        wavs = render_corpus(corpus, args.records, 7, sample_rate=FEATURE_SPEC.sample_rate, progress=False)
        builds, baselines, audio_s = [], [], 0.0
        for run in range(args.repeat):
            started = time.perf_counter()
            index = build_dataset(corpus, Path(scratch) / f"dataset{run}", workers=2, progress=False)
            builds.append(time.perf_counter() - started)
            audio_s = index["build"]["audio_s"]
            started = time.perf_counter()
            for wav in wavs:
                samples, rate = librosa.load(wav, sr=None)
                librosa.onset.onset_strength(y=samples, sr=rate)
            baselines.append(time.perf_counter() - started)
    build, baseline = statistics.median(builds), statistics.median(baselines)
    print(f"records {args.records}, audio {audio_s:.0f} s, median of {args.repeat}")
    print(f"dataset build (2 workers): {build:.2f} s = {audio_s / build:.0f}× real time")
    print(f"librosa load + onset envelope (1 process): {baseline:.2f} s; build / baseline = {build / baseline:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
