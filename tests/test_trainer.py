"""The trainer: labels and targets, the sequence dataset, the network chain on a tiny corpus, exact reproduction,
and the seed recipe's CQT-domain pitch shift."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from samplechop.shared_features import FEATURE_SPEC
from samplechop.trainer.labels import frame_labels, read_beat_rows, read_chop_times
from samplechop.trainer.sequences import HEADS, assign_splits, record_targets
from tests.synth import write_corpus


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


tensorflow = pytest.importorskip("tensorflow", reason="the trainer extra is not installed")


def _train_tiny(root: Path, corpus: Path) -> dict:
    from samplechop.trainer.cli import main

    dataset, fit = root / "dataset", root / "fit"
    assert main(["build", "--corpus", str(corpus), "--out", str(dataset), "--seed", "3"]) == 0
    assert main(["fit", "--dataset", str(dataset), "--out", str(fit), "--epochs", "2", "--seed", "3"]) == 0
    model = root / "model.onnx"
    assert main(["export", "--keras", str(fit / "model.keras"), "--dataset", str(dataset), "--out", str(model)]) == 0
    return json.loads(model.with_suffix(".card.json").read_text())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("corpus")
    write_corpus(directory, 8, seconds=6.0)
    return directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("chain")
    return root, _train_tiny(root, corpus)


def test_export_writes_a_checked_model_and_card(trained: tuple[Path, dict]) -> None:
    from samplechop.service.engine import ChopModel

    root, card = trained
    assert card["feature_spec"] == FEATURE_SPEC.to_dict()
    assert card["export"]["parity_max_abs_diff"] <= 1e-5
    assert card["model_id"].startswith(f"chop-f{FEATURE_SPEC.version}-")
    model = ChopModel(root / "model.onnx")
    assert model.model_id == card["model_id"]
    frames = 137
    activations = model.predict(np.random.default_rng(0).random((frames, FEATURE_SPEC.n_features), np.float32))
    for head in (activations.beat, activations.downbeat, activations.chop):
        assert head.shape == (frames,) and np.all((head >= 0) & (head <= 1))
    # the validation metric is measured against the targets, with its chance level beside it
    metrics = card["metrics"]["validation"]
    assert metrics["records"] >= 1 and 0 < metrics["beat_chance"] < 0.5


def test_the_tiny_network_learns_where_the_beats_are(trained: tuple[Path, dict]) -> None:
    # Two epochs on eight click-track records already rank beat frames well above chance.
    metrics = trained[1]["metrics"]["validation"]
    assert metrics["beat_lift"] > 2.0, metrics


def test_training_reproduces_the_same_weights_bit_for_bit(
    tmp_path: Path, corpus: Path, trained: tuple[Path, dict]
) -> None:
    again = _train_tiny(tmp_path, corpus)
    assert again["weights_sha256"] == trained[1]["weights_sha256"]
    assert again["model_id"] == trained[1]["model_id"]


def test_the_service_refuses_a_model_file_that_is_not_the_one_in_its_card(
    tmp_path: Path, trained: tuple[Path, dict]
) -> None:
    from samplechop.service.engine import ChopModel, ModelLoadError

    root, card = trained
    model = tmp_path / "swapped.onnx"
    model.write_bytes((root / "model.onnx").read_bytes() + b"\0")
    model.with_suffix(".card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="not the model its card"):
        ChopModel(model)


def test_export_refuses_a_model_that_breaks_parity(trained: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    from samplechop.trainer import export

    root, _ = trained
    monkeypatch.setattr(export, "PARITY_TOLERANCE", -1.0)
    target = root / "refused.onnx"
    with pytest.raises(export.ParityError):
        export.checked_export(
            root / "fit" / "model.keras",
            target,
            [np.zeros((1, 50, FEATURE_SPEC.n_features), np.float32)],
            input_shape=(None, None, FEATURE_SPEC.n_features),
            input_name="features",
            output_name="activations",
        )
    assert not target.exists()


def test_train_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from samplechop.trainer.cli import main

    assert main(["build", "--corpus", str(tmp_path / "nothing"), "--out", str(tmp_path / "ds")]) == 2
    assert "no NAME.wav" in capsys.readouterr().err


def test_the_whole_chain_on_a_tiny_rendered_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tinysoundfont", reason="the renderer is not installed")
    from samplechop.trainer.cli import main
    from samplechop.trainer.corpus.sources import missing_sources

    if missing_sources():  # scripts/setup --dev installs them; a bare pip install does not
        pytest.skip(f"soundfonts/kits missing: {[source.package for source in missing_sources()]}")
    out = tmp_path / "run"
    arguments = ["all", "--out", str(out), "--records", "6", "--seed", "5", "--epochs", "1"]
    assert main([*arguments, "--min-duration", "6", "--max-duration", "8"]) == 0
    report = json.loads(capsys.readouterr().out)
    card = json.loads((out / "model.card.json").read_text())
    assert report["model_id"] == card["model_id"]
    assert card["recipe"] == {
        "command": "all",
        "records": 6,
        "seed": 5,
        "min_duration_s": 6.0,
        "max_duration_s": 8.0,
        "epochs": 1,
    }
    assert card["data"]["records"] == 6 and card["data"]["seed"] == 5
    assert sum(card["data"]["kinds"].values()) == 6
    assert card["data"]["licences"] and not any("non-commercial" in lic.lower() for lic in card["data"]["licences"])
    assert set(report["timings_s"]) >= {"corpus_s", "build_s", "fit_s"}
    assert len(list((out / "corpus").glob("*.beats"))) == 6
