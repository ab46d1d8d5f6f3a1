"""The producer's command line: ``samplechop chop``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from samplechop.service.cli import main
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
        [sys.executable, "-m", "samplechop.service.cli", "chop", str(path)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and message in completed.stderr
    assert completed.stdout == ""


def test_bad_parameters_exit_non_zero(beat_wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chop", str(beat_wav), "--chops", "9", "--top-n", "4"]) == 2
    assert "top_n must be at least chops" in capsys.readouterr().err


def test_hand_placed_points_are_honoured_to_the_sample(beat_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "pads"
    points = [0.25, 1.000023, 3.333333, 6.1]
    argv = ["chop", str(beat_wav), "--points", ",".join(map(str, points)), "--export", "sfz", "--out", str(out)]
    assert main(argv) == 0
    document = json.loads((out / "chops.json").read_text())
    rate = document["sample_rate"]
    assert [round(chop["start"] * rate) for chop in document["chops"]] == [round(p * rate) for p in points]
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [*(f"beats_{i:02d}.wav" for i in range(1, 5)), "beats.sfz", "chops.json"]
    )
    for chop, following in zip(document["chops"], [*points[1:], document["duration"]], strict=True):
        assert sf.info(out / chop["file"]).frames == round(following * rate) - round(chop["start"] * rate)


@pytest.mark.parametrize(
    ("points", "message"),
    [("0.5,9.0", "9.000000 s is not inside the record"), ("2,1", "increasing order"), ("1,x", "separated by commas")],
)
def test_points_the_record_cannot_hold_are_one_line(
    beat_wav: Path, capsys: pytest.CaptureFixture[str], points: str, message: str
) -> None:
    assert main(["chop", str(beat_wav), "--points", points]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("samplechop: ") and message in error


def test_a_folder_survives_a_corrupt_record_and_names_stay_inside_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "crate"
    folder.mkdir()
    write_record(beat_record(4.0, bpm=100, seed=1), folder / "Good Loop.wav")
    sf.write(folder / "...wav", beat_record(4.0, bpm=90, seed=2).audio, 44_100, format="WAV")  # its stem is ".."
    (folder / "corrupt.flac").write_bytes(b"fLaC" + bytes(range(256)) * 8)
    (folder / "good loop.flac").write_bytes((folder / "Good Loop.wav").read_bytes())  # the same slug twice
    out = tmp_path / "work" / "out"
    status = main(["chop", str(folder), "--chops", "2", "--mode", "bars", "--out", str(out)])
    assert status == 2  # something failed...
    errors = capsys.readouterr().err.splitlines()
    assert sum("corrupt.flac" in line for line in errors) == 1
    assert sum(line.startswith("samplechop: ") for line in errors) == 1
    assert errors[-1].startswith("summary: 3 of 4 records chopped") and errors[-1].endswith("1 failed")
    # ...and the rest were chopped, each into OUT/<slug>/, its files named after that slug
    assert sorted(path.name for path in out.iterdir()) == ["good-loop", "good-loop-2", "record"]
    for folder_out in out.iterdir():
        document = json.loads((folder_out / "chops.json").read_text())
        assert document["slug"] == folder_out.name
        assert all(path.name.startswith(folder_out.name) for path in folder_out.iterdir() if path.suffix != ".json")
    assert sorted(path.name for path in (tmp_path / "work").iterdir()) == ["out"]  # nothing beside OUT


def test_help_names_every_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    from samplechop.service.parameters import PARAMETERS

    with pytest.raises(SystemExit):
        main(["chop", "--help"])
    text = capsys.readouterr().out
    for parameter in PARAMETERS:
        assert parameter.cli_flag in text
    assert "--mode {to-next,bars,beats,one-shot}" in text and "--export {zip,sfz,xpm,midi}" in text
