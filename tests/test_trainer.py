"""Labels, augmentation, and the trainer's chain (build → fit → export → evaluate) on a tiny corpus."""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pytest

from shared_features import FEATURE_SPEC, frames_to_seconds, mel_onset_strength, record_features
from tests.synth import beat_record, write_corpus
from trainer.augment import extended_cqt, shifted_summed_cqt
from trainer.labels import frame_labels, read_chop_times

pytest.importorskip("tensorflow")


def test_chop_times_file_format(tmp_path: Path) -> None:
    path = tmp_path / "song.txt"
    path.write_text("1.5\n\n0.25  # pickup\n# comment\n3.0\n")
    np.testing.assert_array_equal(read_chop_times(path), [0.25, 1.5, 3.0])


@pytest.mark.parametrize("click_s", [0.5, 1.2345, 2.0])
def test_a_click_at_t_lands_on_the_frame_for_t(click_s: float) -> None:
    rate = FEATURE_SPEC.sample_rate
    audio = np.zeros(int(3 * rate), dtype=np.float32)
    start = int(click_s * rate)
    audio[start : start + 1500] = np.random.default_rng(1).standard_normal(1500) * np.exp(-np.arange(1500) / 200)
    windows, _ = record_features(audio)
    labels = frame_labels(np.array([click_s]), windows.shape[0], FEATURE_SPEC.hop_length, rate)
    positive = np.flatnonzero(labels)
    assert positive.size == 3 and positive[2] - positive[0] == 2
    centre = positive[1]
    assert abs(frames_to_seconds(centre, FEATURE_SPEC.hop_length, rate) - click_s) <= FEATURE_SPEC.frame_duration_s / 2
    assert abs(int(np.argmax(mel_onset_strength(audio, rate, FEATURE_SPEC.hop_length))) - centre) <= 2


def test_labels_ignore_times_outside_the_record() -> None:
    labels = frame_labels(np.array([-1.0, 0.0, 1e6]), 100, 256, 44_100)
    np.testing.assert_array_equal(np.flatnonzero(labels), [0, 1])


@pytest.mark.parametrize("semitones", [-3, -1, 2, 3])
def test_cqt_domain_shift_matches_librosa_pitch_shift(semitones: int) -> None:
    record = beat_record(3.0, bpm=90.0, channels=1, seed=3)
    mono = record.audio[:, 0]
    shortcut = shifted_summed_cqt(extended_cqt(mono), semitones)
    shifted = librosa.effects.pitch_shift(mono, sr=FEATURE_SPEC.sample_rate, n_steps=semitones)
    _, reference_cqt = record_features(shifted.astype(np.float32))
    reference = reference_cqt.sum(axis=0)
    # The model sees z-scored 61-frame windows, so shape, not scale, is what must agree.
    correlation = np.corrcoef(shortcut, reference)[0, 1]
    assert correlation > 0.95, correlation
    unshifted = record_features(mono)[1].sum(axis=0)
    assert np.corrcoef(shortcut, unshifted)[0, 1] < 1.0 - 1e-4 or semitones == 0


def test_zero_shift_equals_the_spec_features() -> None:
    mono = beat_record(2.0, channels=1).audio[:, 0]
    _, cqt = record_features(mono)
    # librosa resamples per octave from the top bin down, so a lower fmin moves the octave edges a little;
    # the per-frame sums still move together.
    assert np.corrcoef(shifted_summed_cqt(extended_cqt(mono), 0), cqt.sum(axis=0))[0, 1] > 0.99


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainer.cli import main

    root = tmp_path_factory.mktemp("chain")
    write_corpus(root / "corpus", 10, seconds=6.0)
    assert main(["build", "--corpus", str(root / "corpus"), "--out", str(root / "dataset"), "--seed", "3"]) == 0
    assert main(["fit", "--dataset", str(root / "dataset"), "--out", str(root / "fit"), "--epochs", "2"]) == 0
    assert (
        main(
            [
                "export",
                "--keras",
                str(root / "fit" / "model.keras"),
                "--dataset",
                str(root / "dataset"),
                "--out",
                str(root / "model.onnx"),
            ]
        )
        == 0
    )
    return root


def test_dataset_is_sharded_split_by_record_and_augmented(trained: Path) -> None:
    index = json.loads((trained / "dataset" / "index.json").read_text())
    splits = {record["split"] for record in index["records"]}
    assert splits == {"train", "val"}
    assert index["shifts"] == [-3, -2, -1, 1, 2, 3]
    with np.load(trained / "dataset" / index["shards"][0]) as shard:
        assert shard["x"].shape[1] == FEATURE_SPEC.window_width
        shifted = shard["shift"] != 0
        assert shifted.any() and np.all(shard["y"][shifted] == 1)
        # every unshifted positive has six shifted copies
        assert shifted.sum() == 6 * int(shard["y"][~shifted].sum())


def test_export_writes_a_checked_model_and_card(trained: Path) -> None:
    from service.engine import ChopModel

    card = json.loads((trained / "model.card.json").read_text())
    assert card["feature_spec"] == FEATURE_SPEC.to_dict()
    assert card["export"]["parity_max_abs_diff"] <= 1e-5
    assert 0.0 <= card["metrics"]["validation"]["pr_auc"] <= 1.0
    assert card["model_id"].startswith("chop-f1-")
    assert ChopModel(trained / "model.onnx").model_id == card["model_id"]


def test_export_refuses_a_model_that_breaks_parity(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer import export
    from trainer.dataset import load_split

    monkeypatch.setattr(export, "PARITY_TOLERANCE", -1.0)
    x, _, _ = load_split(trained / "dataset", "val", unshifted_only=True)
    target = trained / "refused.onnx"
    with pytest.raises(export.ParityError):
        export.checked_export(trained / "fit" / "model.keras", target, x[:500])
    assert not target.exists()


def test_the_whole_chain_on_a_tiny_rendered_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main

    out = tmp_path / "run"
    arguments = ["all", "--out", str(out), "--records", "6", "--seed", "5", "--epochs", "1"]
    assert main([*arguments, "--min-duration", "6", "--max-duration", "8"]) == 0
    report = json.loads(capsys.readouterr().out)
    card = json.loads((out / "model.card.json").read_text())
    assert report["model_id"] == card["model_id"]
    assert card["data"]["records"] == 6 and card["data"]["seed"] == 5
    assert sum(card["data"]["kinds"].values()) == 6
    assert card["data"]["licences"] and not any("non-commercial" in lic.lower() for lic in card["data"]["licences"])
    assert set(report["timings_s"]) >= {"corpus_s", "build_s", "fit_s"}
    assert len(list((out / "corpus").glob("*.txt"))) == 6


def test_train_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main

    assert main(["build", "--corpus", str(tmp_path / "nothing"), "--out", str(tmp_path / "ds")]) == 2
    assert "no NAME.wav" in capsys.readouterr().err
