"""Dataset-build speed: how many seconds of audio per second of wall time ``build`` turns into training rows,
pitch-shift augmentation included (target ≥ 50 × real time on 2 cores).

The baseline, run in the same process on the same records, is what the shortcut replaces: pitch-shifting each
record's audio with ``librosa.effects.pitch_shift`` for one of the six shifts (measured on the first record and
scaled to all six shifts and all records).

    python bench/dataset_build.py [--records 24] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import librosa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared_features import FEATURE_SPEC, decode_audio  # noqa: E402
from trainer.corpus import render_corpus  # noqa: E402
from trainer.dataset import SHIFTS, build_dataset  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus"
        render_corpus(corpus, args.records, seed=7, workers=args.workers, progress=False)
        index = build_dataset(corpus, Path(folder) / "dataset", workers=args.workers, progress=False)
        audio_s, wall_s = index["build"]["audio_s"], index["build"]["wall_s"]
        first = decode_audio(sorted(corpus.glob("*.wav"))[0], FEATURE_SPEC.sample_rate)
        started = time.perf_counter()
        librosa.effects.pitch_shift(first.mono, sr=FEATURE_SPEC.sample_rate, n_steps=1)
        per_audio_second = (time.perf_counter() - started) / first.duration_s
    naive_wall = per_audio_second * audio_s * len(SHIFTS) / args.workers
    print(f"\ndataset build: {args.records} rendered records, {audio_s:.0f} s of audio, {args.workers} workers\n")
    print("| what | wall s | × real time |")
    print("|---|---|---|")
    print(f"| build (features + labels + 6 CQT-domain shifts) | {wall_s:.1f} | {audio_s / wall_s:.0f}× |")
    print(f"| baseline: librosa pitch_shift × 6, no features | {naive_wall:.1f} | {audio_s / naive_wall:.1f}× |")
    print(f"\nthe build is {naive_wall / wall_s:.0f}× faster than pitch-shifting alone (target ≥ 50 × real time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
