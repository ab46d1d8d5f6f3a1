"""Memory benchmark: peak RSS over idle for chopping a 10-minute stereo record, and for the hostile 655 kHz file.

Each case runs in a fresh subprocess that imports the engine, loads the model and chops a 2-s warm-up record (what
an idle service worker holds), reads its RSS, resets the kernel's peak-RSS mark (``/proc/self/clear_refs``) and
then runs the case; the figure is the peak RSS (``VmHWM``) above that idle RSS. A process that only imports the
engine is measured the same way, as the baseline. Goals (issue 12): ≤ 400 MB over idle for the 10-min record, an
error within a second and a few MB for the 655,350 Hz × 8-channel 60-s FLAC.

    python bench/memory.py [--seconds 600] [--no-mp3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

if TYPE_CHECKING:
    from samplechop.service.engine import Chopper

REPO = Path(__file__).resolve().parent.parent
LISTEN_DIR = REPO.parent / "shared" / "data" / "listen"
RATE = 44_100
MB = 1e6
# The service's own limit (Settings.max_duration_s), so the 10-min record is just inside it.
MAX_DURATION_S = 600.0


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def make_record(path: Path, seconds: float, fmt: str = "WAV") -> Path:
    """A stereo 44.1-kHz record of real music from the listen set, looped, written a piece at a time."""
    sources = sorted(LISTEN_DIR.glob("*.ogg"))
    pieces: list[np.ndarray] = []
    for source in sources:
        audio, rate = sf.read(source, dtype="float32", always_2d=True)
        if rate == RATE:
            pieces.append(audio if audio.shape[1] == 2 else np.repeat(audio[:, :1], 2, axis=1))
    if not pieces:
        sys.path.insert(0, str(REPO))
        from tests.synth import beat_record

        pieces = [beat_record(60.0, channels=2).audio]
    remaining = round(seconds * RATE)
    with sf.SoundFile(path, "w", samplerate=RATE, channels=2, format=fmt) as out:
        while remaining > 0:
            for piece in pieces:
                out.write(piece[:remaining])
                remaining -= min(remaining, piece.shape[0])
    return path


def make_wide_flac(path: Path, seconds: float = 60.0, rate: int = 655_350, channels: int = 8) -> Path:
    """The issue's file: 655,350 Hz × 8 channels × 60 s of FLAC, mostly silence (small on the wire)."""
    block = np.zeros((rate, channels), dtype=np.float32)
    block[: rate // 100] = 0.1 * np.sin(np.arange(rate // 100) * 0.01)[:, None]
    with sf.SoundFile(path, "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as out:
        for _ in range(int(seconds)):
            out.write(block)
    return path


def _decode_and_slice(source: Path) -> None:
    """The decoder's share alone: the mono analysis copy, then eight slices cut from the source."""
    from samplechop.service.engine.slices import slice_wav_bytes
    from samplechop.shared_features import FEATURE_SPEC, decode_audio

    with decode_audio(source, FEATURE_SPEC.sample_rate, max_duration_s=MAX_DURATION_S) as audio:
        bounds = np.linspace(0, audio.frames, 9).astype(int)
        for start, stop in itertools.pairwise(bounds):
            slice_wav_bytes(audio, int(start), int(stop), audio.original_rate, audio.channels, 16)


def _chop(chopper: Chopper, source: Path, as_bytes: bool) -> None:
    """What the CLI (a path) or the service (the upload's bytes) does: chop, then write the zip to disk."""
    from samplechop.service.engine import ChopParams, write_zip

    record = chopper.chop(source.read_bytes() if as_bytes else source, ChopParams())
    with tempfile.TemporaryFile() as sink:
        write_zip(record, sink)


def child(case: str, source: Path | None) -> dict[str, object]:
    """Run one case in this (fresh) process and report its RSS figures."""
    sys.path.insert(0, str(REPO))
    import samplechop.service.engine as engine

    if case == "import-only" or source is None:
        return {"idle_rss_mb": _status_kb("VmRSS") * 1e3 / MB}
    from samplechop.service.engine import ChopModel, ChopParams, Chopper, write_zip

    chopper = Chopper(ChopModel(), max_duration_s=MAX_DURATION_S)
    time_s = np.arange(2 * RATE) / RATE
    warmup = (0.3 * np.sin(2 * np.pi * 220.0 * time_s) * np.exp(-4.0 * (time_s % 0.5))).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        warm = Path(folder) / "warm.wav"
        sf.write(warm, warmup, RATE)
        with tempfile.TemporaryFile() as sink:
            write_zip(chopper.chop(warm, ChopParams(chops=2, top_n=4)), sink)
    idle_kb = _status_kb("VmRSS")
    exact = _reset_peak()
    started = time.perf_counter()
    outcome = "ok"
    try:
        if case == "decode":
            _decode_and_slice(source)
        else:
            _chop(chopper, source, as_bytes=case == "bytes")
    except (engine.AudioDecodeError, engine.RecordTooLong, ValueError) as error:
        outcome = f"{type(error).__name__}: {error}"
    elapsed = time.perf_counter() - started
    return {
        "idle_rss_mb": idle_kb * 1e3 / MB,
        "peak_over_idle_mb": (_status_kb("VmHWM") - idle_kb) * 1e3 / MB,
        "peak_is_exact": exact,
        "seconds": elapsed,
        "outcome": outcome,
    }


def run_case(case: str, source: Path | None) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", case] + ([str(source)] if source else [])
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if completed.returncode != 0:
        raise SystemExit(f"case {case} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the long record (600)")
    parser.add_argument("--no-mp3", action="store_true", help="skip the MP3 case (encoding it takes a while)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, *rest = args.child
        print(json.dumps(child(case, Path(rest[0]) if rest else None)))
        return

    with tempfile.TemporaryDirectory(prefix="samplechop-memory-") as folder:
        out = Path(folder)
        print(f"building records in {out} …", file=sys.stderr)
        long_wav = make_record(out / "long.wav", args.seconds)
        started = time.perf_counter()
        wide = make_wide_flac(out / "wide.flac")
        print(
            f"655 kHz FLAC: {wide.stat().st_size / 1e3:.0f} KB, {time.perf_counter() - started:.1f} s", file=sys.stderr
        )
        minutes = f"{args.seconds / 60:g}-min stereo"
        # (label, what the child does, input, goal)
        cases: list[tuple[str, str, Path | None, str]] = [
            ("import-only", "import-only", None, ""),
            (f"{minutes} WAV, decode + 8 slices only", "decode", long_wav, ""),
            (f"{minutes} WAV, chop a path (CLI)", "path", long_wav, "≤ 400 MB"),
            (f"{minutes} WAV, chop its bytes (service)", "bytes", long_wav, "≤ 400 MB"),
        ]
        if not args.no_mp3:
            cases.append(
                (f"{minutes} MP3, chop a path", "path", make_record(out / "long.mp3", args.seconds, "MP3"), "")
            )
        cases.append(("655,350 Hz × 8 ch × 60 s FLAC, chop its bytes", "bytes", wide, "4xx < 1 s"))
        results = []
        for label, kind, source, goal in cases:
            print(f"running {label} …", file=sys.stderr)
            results.append((label, goal, run_case(kind, source)))

    baseline = results[0][2]["idle_rss_mb"]
    idle = results[1][2]["idle_rss_mb"]
    print(f"baseline: a process that only imports the engine: {baseline:.0f} MB RSS")
    print(f"idle: + the model loaded and a 2-s warm-up chop (what a service worker holds): {idle:.0f} MB RSS\n")
    print("| case | outcome | seconds | peak RSS over idle | over the import-only baseline | goal |")
    print("|---|---|---|---|---|---|")
    for label, goal, result in results[1:]:
        over_idle = float(result["peak_over_idle_mb"])
        over_base = over_idle + float(result["idle_rss_mb"]) - baseline
        outcome = str(result["outcome"])
        print(
            f"| {label} | {outcome[:100]} | {float(result['seconds']):.3f} | {over_idle:.0f} MB | {over_base:.0f} MB "
            f"| {goal} |"
        )
    if not all(result["peak_is_exact"] for _label, _goal, result in results[1:]):
        print("\n(the kernel refused to reset the peak mark: peaks include the warm-up)")


if __name__ == "__main__":
    main()
