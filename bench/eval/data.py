"""The annotated dev set (``../shared/data/dev``): records, their annotations and the tune/report split.

Layout (see ``shared/README.md``): ``mdb_drums/{audio,beats,onsets}`` (drum stems with beats, bar positions and
drum onsets), ``real/NAME.{wav,ogg}`` + ``NAME.beats`` (full mixes), ``real/loops/NAME.{ogg,beats,bpm}`` (drum loops
with their tempo) and ``SPLIT.tsv`` (``track<TAB>tune|report``). The loops are not in ``SPLIT.tsv``: they are a tempo
check only, loaded with split ``None`` and reported on their own.

Audio is decoded lazily, once per record, and kept (with anything else computed from it through
:meth:`DevRecord.cached`) until :meth:`DevRecord.release` — the evaluator releases a record when every system has
run on it, so a whole dev run never holds more than one record's audio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import librosa
import numpy as np

# The rate the baselines, the reference tempo tracker and the chroma run at: librosa's default, the rate the
# previous bench and the figures in shared/README.md were measured at.
SAMPLE_RATE_HZ = 22_050
HOP_LENGTH = 512  # librosa's default hop at that rate (23 ms frames)
SPLITS = ("tune", "report")
AUDIO_SUFFIXES = (".wav", ".ogg", ".flac", ".mp3")
GROUPS = ("mdb_drums", "real", "loops")

T = TypeVar("T")


class DevDataError(ValueError):
    """The dev set is missing, incomplete or malformed; the message says which file."""


@dataclass(eq=False)
class DevRecord:
    """One annotated dev record. Times are seconds in the record; arrays are sorted.

    ``key`` is the record's name in ``SPLIT.tsv`` (``real/gtzan_blues_00000``, ``mdb_drums/MusicDelta_Punk_Drum``;
    loops ``real/loops/break01``). ``downbeats_s`` is None where the annotation has no bar positions (the loops),
    ``onsets_s`` None where there are no onset annotations (everything but mdb_drums). ``tempo_bpm`` is the
    reference tempo: the loop's ``.bpm`` file, else 60 / the median interval of the annotated beats.
    """

    key: str
    group: str
    split: str | None
    path: Path
    beats_s: np.ndarray
    downbeats_s: np.ndarray | None
    onsets_s: np.ndarray | None
    tempo_bpm: float | None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def audio(self) -> np.ndarray:
        """Mono float32 at :data:`SAMPLE_RATE_HZ`, decoded on first use."""
        return self.cached("audio", lambda: decode(self.path))

    @property
    def duration_s(self) -> float:
        return float(self.audio.size / SAMPLE_RATE_HZ)

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per record until :meth:`release` (audio, onset envelopes, chroma, …)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def release(self) -> None:
        """Drop the decoded audio and everything computed from it."""
        self._cache.clear()


def decode(path: Path) -> np.ndarray:
    try:
        audio, _ = librosa.load(path, sr=SAMPLE_RATE_HZ, mono=True)
    except Exception as error:  # soundfile/audioread raise many unrelated types for unreadable files
        raise DevDataError(f"cannot decode {path}: {error}") from error
    if audio.size == 0:
        raise DevDataError(f"{path} holds no audio")
    return audio.astype(np.float32, copy=False)


def load_split(path: Path) -> dict[str, str]:
    """``SPLIT.tsv`` → {track key: "tune" | "report"}. A header line ``track<TAB>split`` is optional."""
    if not path.is_file():
        raise DevDataError(f"no split file at {path}")
    split: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#") or (number == 1 and fields == ["track", "split"]):
            continue
        if len(fields) != 2 or fields[1] not in SPLITS:
            raise DevDataError(f"{path}:{number}: expected 'track<TAB>tune|report', got {line!r}")
        if fields[0] in split:
            raise DevDataError(f"{path}:{number}: {fields[0]} is listed twice")
        split[fields[0]] = fields[1]
    if not split:
        raise DevDataError(f"{path} lists no tracks")
    return split


def read_columns(path: Path) -> list[list[str]]:
    """Whitespace-separated columns of every non-empty line."""
    if not path.is_file():
        raise DevDataError(f"missing annotation file {path}")
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def read_beats(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A ``.beats`` file → (beat times, downbeat times). Downbeats are the beats at bar position 1; None when the
    file has no position column."""
    rows = read_columns(path)
    try:
        times = np.asarray([float(row[0]) for row in rows], dtype=np.float64)
        positioned = bool(rows) and all(len(row) >= 2 for row in rows)
        positions = np.asarray([float(row[1]) for row in rows]) if positioned else None
    except ValueError as error:
        raise DevDataError(f"{path}: not 'time[<TAB>position]' lines: {error}") from error
    order = np.argsort(times, kind="stable")
    times = times[order]
    if positions is None:
        return times, None
    return times, times[positions[order] == 1]


def read_onsets(path: Path) -> np.ndarray:
    try:
        return np.sort(np.asarray([float(row[0]) for row in read_columns(path)], dtype=np.float64))
    except ValueError as error:
        raise DevDataError(f"{path}: not 'time<TAB>class' lines: {error}") from error


def read_bpm(path: Path) -> float:
    try:
        bpm = float(path.read_text().split()[0])
    except (OSError, IndexError, ValueError) as error:
        raise DevDataError(f"{path}: expected a tempo in BPM: {error}") from error
    if not 20.0 <= bpm <= 400.0:
        raise DevDataError(f"{path}: tempo {bpm} BPM is out of range")
    return bpm


def tempo_from_beats(beats_s: np.ndarray) -> float | None:
    """60 / the median inter-beat interval: the reference tempo of a record annotated with beats only."""
    if beats_s.size < 2:
        return None
    interval_s = float(np.median(np.diff(beats_s)))
    return 60.0 / interval_s if interval_s > 0 else None


def find_audio(folder: Path, stem: str) -> Path:
    for suffix in AUDIO_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise DevDataError(f"no audio for {stem} in {folder} (looked for {', '.join(AUDIO_SUFFIXES)})")


def load_record(dev_dir: Path, key: str, split: str | None) -> DevRecord:
    group, _, rest = key.partition("/")
    if group == "mdb_drums":
        # Audio files carry a "_Drum" suffix that the annotation files do not.
        base = dev_dir / "mdb_drums"
        stem = rest.removesuffix("_Drum")
        audio = find_audio(base / "audio", rest)
        beats, downbeats = read_beats(base / "beats" / f"{stem}.beats")
        return DevRecord(
            key=key,
            group=group,
            split=split,
            path=audio,
            beats_s=beats,
            downbeats_s=downbeats,
            onsets_s=read_onsets(base / "onsets" / f"{stem}.onsets"),
            tempo_bpm=tempo_from_beats(beats),
        )
    if group == "real":
        folder = dev_dir / "real" / Path(rest).parent
        stem = Path(rest).name
        audio = find_audio(folder, stem)
        beats, downbeats = read_beats(folder / f"{stem}.beats")
        bpm_file = folder / f"{stem}.bpm"
        return DevRecord(
            key=key,
            group="loops" if rest.startswith("loops/") else "real",
            split=split,
            path=audio,
            beats_s=beats,
            downbeats_s=downbeats,
            onsets_s=None,
            tempo_bpm=read_bpm(bpm_file) if bpm_file.is_file() else tempo_from_beats(beats),
        )
    raise DevDataError(f"unknown dev group in track {key!r} (expected mdb_drums/… or real/…)")


def load_dev(dev_dir: Path, splits: tuple[str, ...] = SPLITS, *, loops: bool = True) -> list[DevRecord]:
    """Every record of the given splits listed in ``dev_dir/SPLIT.tsv``, plus the loops (no split) if asked.

    Raises DevDataError when the split file names a track that is not there, or when a record in ``real/`` or
    ``mdb_drums/audio`` is missing from the split (an unsplit record would be silently tuned on or reported).
    """
    dev_dir = Path(dev_dir)
    if not dev_dir.is_dir():
        raise DevDataError(f"no dev set at {dev_dir}")
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise DevDataError(f"unknown split {sorted(unknown)}; expected {', '.join(SPLITS)}")
    assignment = load_split(dev_dir / "SPLIT.tsv")
    on_disk = {f"mdb_drums/{p.stem}" for p in (dev_dir / "mdb_drums" / "audio").glob("*") if p.suffix in AUDIO_SUFFIXES}
    on_disk |= {f"real/{p.stem}" for p in (dev_dir / "real").glob("*") if p.suffix in AUDIO_SUFFIXES}
    unsplit = sorted(on_disk - set(assignment))
    if unsplit:
        raise DevDataError(f"{len(unsplit)} records are not in SPLIT.tsv: {', '.join(unsplit[:5])}")
    records = [load_record(dev_dir, key, split) for key, split in sorted(assignment.items()) if split in splits]
    if loops:
        for bpm_file in sorted((dev_dir / "real" / "loops").glob("*.bpm")):
            records.append(load_record(dev_dir, f"real/loops/{bpm_file.stem}", None))
    return records
