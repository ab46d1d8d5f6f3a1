"""The producer's command line: ``samplechop chop``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from service.cli import main
from tests.synth import beat_record, write_record


def test_chop_prints_the_json_document(beat_wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chop", str(beat_wav), "--chops", "4", "--top-n", "8", "--lambda", "0.9", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["chops"]) == 4
    assert set(document["chops"][0]) >= {"index", "start", "end", "probability"}
    assert document["params"]["lambda"] == 0.9
    assert document["params"]["top_n"] == 8


def test_chop_writes_slices_and_json(beat_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "pads"
    assert main(["chop", str(beat_wav), "--chops", "3", "--out", str(out)]) == 0
    document = json.loads((out / "chops.json").read_text())
    for chop in document["chops"]:
        info = sf.info(out / chop["file"])
        assert info.samplerate == 44_100 and info.channels == 2
        assert info.frames == pytest.approx((chop["end"] - chop["start"]) * 44_100, abs=2)
    assert not list(out.glob(".*partial"))


def test_a_folder_is_chopped_in_one_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "crate"
    folder.mkdir()
    for seed in range(2):
        write_record(beat_record(4.0, bpm=90 + 10 * seed, seed=seed), folder / f"record{seed}.wav")
    (folder / "notes.txt").write_text("not a record")
    assert main(["chop", str(folder), "--chops", "2", "--format", "json", "--out", str(tmp_path / "out")]) == 0
    documents = json.loads(capsys.readouterr().out)
    assert [Path(d["record"]).name for d in documents] == ["record0.wav", "record1.wav"]
    assert (tmp_path / "out" / "record1" / "chops.json").exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing.wav", "no such file"),
        (lambda d: (d / "text.mp3").write_text("hello") and d / "text.mp3", "not a readable audio file"),
        (lambda d: (d / "empty.wav").write_bytes(b"") == 0 and d / "empty.wav", "the file is empty"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(tmp_path: Path, setup, message: str) -> None:
    path = setup(tmp_path)
    completed = subprocess.run(
        [sys.executable, "-m", "service.cli", "chop", str(path)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and message in completed.stderr
    assert completed.stdout == ""


def test_bad_parameters_exit_non_zero(beat_wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chop", str(beat_wav), "--chops", "9", "--top-n", "4"]) == 2
    assert "top_n must be at least chops" in capsys.readouterr().err
