"""The trainer's data side, without TensorFlow: the corpus's annotation files, per-frame targets, the record
splits, and the dataset build's refusal of a folder without records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samplechop.shared_features import FEATURE_SPEC
from samplechop.trainer.annotations import frame_labels, read_beat_rows, read_chop_times
from samplechop.trainer.sequences import HEADS, assign_splits, record_targets


def test_chop_times_file_format(tmp_path: Path) -> None:
    path = tmp_path / "song.txt"
    path.write_text("1.5\n\n0.25  # pickup\n# comment\n3.0\n")
    np.testing.assert_array_equal(read_chop_times(path), [0.25, 1.5, 3.0])


def test_beat_rows_file_format(tmp_path: Path) -> None:
    path = tmp_path / "song.beats"
    path.write_text("0.5\t1\n1.0\t2\n1.5\t3\n")
    times, positions = read_beat_rows(path)
    np.testing.assert_allclose(times, [0.5, 1.0, 1.5])
    np.testing.assert_array_equal(positions, [1, 2, 3])


def test_targets_mark_the_frame_nearest_each_event() -> None:
    rate = FEATURE_SPEC.frame_rate_hz
    beats = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    positions = np.array([1, 2, 3, 1, 2])
    targets = record_targets(beats, positions, np.array([0.5, 1.49]), 200, rate)
    assert targets.shape == (200, len(HEADS))
    np.testing.assert_array_equal(np.flatnonzero(targets[:, 0]), np.rint(beats * rate).astype(int))
    np.testing.assert_array_equal(np.flatnonzero(targets[:, 1]), np.rint(np.array([0.5, 2.0]) * rate).astype(int))
    np.testing.assert_array_equal(np.flatnonzero(targets[:, 2]), np.rint(np.array([0.5, 1.49]) * rate).astype(int))


def test_targets_ignore_times_outside_the_record() -> None:
    targets = record_targets(np.array([-1.0, 0.0, 1e6]), np.array([1, 1, 1]), np.zeros(0), 100, 50.0)
    np.testing.assert_array_equal(np.flatnonzero(targets[:, 0]), [0])
    labels = frame_labels(np.array([-1.0, 0.0, 1e6]), 100, 256, 44_100)
    np.testing.assert_array_equal(np.flatnonzero(labels), [0, 1])


def test_splits_are_by_record_and_never_empty() -> None:
    names = [f"rec{index:03d}" for index in range(40)]
    splits = assign_splits(names, 0, 0.15)
    assert set(splits.values()) == {"train", "val"}
    assert splits == assign_splits(list(reversed(names)), 0, 0.15)
    assert set(assign_splits(names[:2], 0, 0.0).values()) == {"train", "val"}


def test_train_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from samplechop.trainer.cli import main

    assert main(["build", "--corpus", str(tmp_path / "nothing"), "--out", str(tmp_path / "ds")]) == 2
    assert "no NAME.wav" in capsys.readouterr().err
