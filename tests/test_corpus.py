"""Training-corpus renderer: determinism, file formats, label rule and label/audio alignment."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from trainer.corpus import render_corpus
from trainer.corpus.arrangement import Track
from trainer.corpus.music21_source import COLLECTIONS
from trainer.corpus.render import SoundingNote, default_soundfont, render_notes

SR = 44100
N_RECORDS = 6
SEED = 7


def _render(out: Path, seed: int, workers: int = 1) -> list[Path]:
    return render_corpus(out, N_RECORDS, seed, min_duration_s=6.0, max_duration_s=8.0, workers=workers, progress=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    _render(out, SEED)
    return out


def _digest(paths: list[Path]) -> dict[str, str]:
    files = [f for p in paths for f in (p, p.with_suffix(".txt"), p.with_suffix(".beats"))]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _labels(wav: Path) -> np.ndarray:
    return np.array([float(x) for x in wav.with_suffix(".txt").read_text().split()])


def _beats(wav: Path) -> list[tuple[float, int]]:
    rows = [line.split("\t") for line in wav.with_suffix(".beats").read_text().splitlines()]
    return [(float(t), int(pos)) for t, pos in rows]


def _manifest(out: Path) -> list[dict]:
    return json.loads((out / "corpus.json").read_text())


def test_same_seed_is_byte_identical_across_worker_counts(corpus: Path, tmp_path: Path) -> None:
    again = _render(tmp_path / "again", SEED, workers=2)
    assert _digest(again) == _digest(sorted(corpus.glob("*.wav")))


def test_different_seed_differs(corpus: Path, tmp_path: Path) -> None:
    other = _render(tmp_path / "other", SEED + 1)
    ours = sorted(corpus.glob("*.wav"))
    assert [p.read_bytes() for p in other] != [p.read_bytes() for p in ours]
    assert [_labels(p).tolist() for p in other] != [_labels(p).tolist() for p in ours]


def test_files_exist_and_parse(corpus: Path) -> None:
    entries = _manifest(corpus)
    assert len(entries) == N_RECORDS
    assert {e["kind"] for e in entries} <= {"music21", "loop", "drums"}
    for e in entries:
        wav = corpus / f"{e['name']}.wav"
        info = sf.info(wav)
        assert info.samplerate == SR and info.subtype == "PCM_16" and info.channels in (1, 2)
        assert abs(info.duration - e["duration"]) < 0.01
        audio, _ = sf.read(wav, dtype="float32")
        peak = float(np.abs(audio).max())
        assert 10 ** (-13 / 20) < peak < 1.0, "level out of range: silent or clipping"
        labels = _labels(wav)
        assert labels.size >= 1
        assert np.all(np.diff(labels) > 0)
        assert labels[0] >= 0.1 and labels[-1] <= e["duration"] - 0.5
        beats = _beats(wav)
        assert beats and all(1 <= pos <= 4 for _, pos in beats)
        for key in ("source", "licence", "tempo_bpm", "meter", "instruments", "effects", "seed", "duration"):
            assert key in e


def test_every_downbeat_is_labelled_and_labels_sit_on_beats(corpus: Path) -> None:
    for e in _manifest(corpus):
        wav = corpus / f"{e['name']}.wav"
        labels = _labels(wav)
        beats = _beats(wav)
        downbeats = [t for t, pos in beats if pos == 1 and 0.1 <= t <= e["duration"] - 0.5]
        labelled = [t for t in downbeats if np.min(np.abs(labels - t)) < 0.045]
        if e["kind"] == "music21":
            # A note tied across the barline leaves a downbeat with nothing starting on it: not a chop point.
            assert len(labelled) >= 0.75 * len(downbeats)
        else:
            assert labelled == downbeats
            beat_times = np.array([t for t, _ in beats])
            near = [np.min(np.abs(beat_times - t)) < 0.045 for t in labels]
            # Only the very first sound (a pickup) may sit off the beat grid.
            assert sum(not x for x in near) <= 1
        # Not every beat: a chop per bar or per chord change, not per beat.
        assert len(labels) < 0.8 * sum(1 for t, _ in beats if 0.1 <= t <= e["duration"] - 0.5)


def _flux_peaks(wav: Path, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each label: offset (s) of the strongest spectral-flux frame within 30 ms, and its strength / median."""
    y, _ = sf.read(wav, dtype="float32")
    y = y.mean(axis=1) if y.ndim == 2 else y
    hop = 64  # 1.5 ms frames: fine enough to see a couple of ms
    env = librosa.onset.onset_strength(y=y, sr=SR, n_fft=512, hop_length=hop, n_mels=64, max_size=1)
    times = librosa.frames_to_time(np.arange(env.size), sr=SR, hop_length=hop)
    offsets, strengths = [], []
    for t in labels:
        idx = np.flatnonzero(np.abs(times - t) <= 0.03)
        k = idx[np.argmax(env[idx])]
        offsets.append(times[k] - t)
        strengths.append(env[k] / np.median(env))
    return np.abs(np.array(offsets)), np.array(strengths)


def test_labels_land_on_audible_onsets(corpus: Path) -> None:
    offsets_by_kind: dict[str, list[float]] = {"drums": [], "loop": [], "music21": []}
    for e in _manifest(corpus):
        wav = corpus / f"{e['name']}.wav"
        offsets, strengths = _flux_peaks(wav, _labels(wav))
        offsets_by_kind[e["kind"]].extend(offsets)
        # Something must start at every chop point; legato strings/choir give the weakest onsets.
        assert np.all(strengths > (2.0 if e["kind"] == "drums" else 1.2)), (wav.name, strengths)
    # Drum hits peak in flux within a few ms of the note-on. Slow-attack keys (string pads in a drumless intro,
    # legato chorales) swell after their note-on, so their flux peak can trail the label by 15-30 ms.
    for kind, minimum in (("drums", 1.0), ("loop", 0.85), ("music21", 0.6)):
        if offsets_by_kind[kind]:
            assert np.mean(np.array(offsets_by_kind[kind]) <= 0.015) >= minimum, (kind, offsets_by_kind[kind])


def test_renderer_adds_no_latency() -> None:
    on_s = 0.25
    note = SoundingNote(on_s, on_s + 0.1, 0, 37, 120)  # side stick: a click
    audio = render_notes([Track("drums", 0, is_drum=True)], [note], 0.5, SR, default_soundfont())
    first = int(np.argmax(np.abs(audio).max(axis=1) > 1e-4))
    assert abs(first - round(on_s * SR)) <= 3  # samples


def test_sources_are_licensed_for_commercial_use(corpus: Path) -> None:
    folders = {c.folder for c in COLLECTIONS}
    assert "essenFolksong" not in folders  # licensed for non-commercial use only
    for c in COLLECTIONS:
        assert "non-commercial" not in c.licence.lower()
    for e in _manifest(corpus):
        assert e["licence"] and "non-commercial" not in e["licence"].lower() and "NC" not in e["licence"].split()
        assert "TimGM6mb" in e["soundfont"]
