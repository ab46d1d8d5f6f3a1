"""The trainer with TensorFlow, on two tiny runs shared by the tests below:

- ``trained``: a two-block network fitted on eight synthetic click-track records and exported: it learns, its
  export is parity-checked and carded, the service refuses a file swapped under its card, an export that does not
  compute what Keras computes is refused, and a second build + fit reproduces its weights bit for bit;
- ``chain``: one ``samplechop-train all`` run of the recipe's own network, from rendering a corpus to the model card.

The TensorFlow-free parts of the trainer (annotation files, targets, splits) are tested in test_labels.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from samplechop.shared_features import FEATURE_SPEC
from samplechop.trainer.network import NetworkConfig
from tests.synth import write_corpus

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="the trainer extra is not installed"),
    pytest.mark.slow,  # every test here needs a training run (5-15 s on 2 cores)
]

# The recipe's network cut to two residual blocks of eight channels: the same layer kinds (dilated convolutions, ELU,
# spatial dropout, residual adds) over whole 6-s records (300 frames), fitted and exported in ~2.5 s here instead
# of ~7 s; the recipe's own network runs in ``chain``. Measured on this corpus (validation PR-AUC lift over chance,
# beat/downbeat/chop): untrained (learning rate 0) 1.9/0.7/1.1, after four epochs 5.8/4.6/8.0.
TINY = NetworkConfig(seed=3, epochs=4, channels=8, dilations=(2, 8), crop_frames=320)


@pytest.fixture(scope="module", autouse=True)
def one_tensorflow_thread() -> Iterator[None]:
    """TensorFlow sizes its thread pools to the machine and its idle threads spin; beside the other test worker on
    two cores, one thread each trains these tiny networks sooner (measured: 1.5 s less CPU and wall for the file).
    Read when TensorFlow starts, i.e. at the first fit here; the weights compared below are all made this way."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TF_NUM_INTRAOP_THREADS", "1")
        patch.setenv("TF_NUM_INTEROP_THREADS", "1")
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    from samplechop.trainer.cli import main
    from samplechop.trainer.network import fit_network

    root = tmp_path_factory.mktemp("tiny")
    corpus, dataset, model = root / "corpus", root / "dataset", root / "model.onnx"
    write_corpus(corpus, 8, seconds=6.0)
    assert main(["build", "--corpus", str(corpus), "--out", str(dataset), "--seed", "3", "--workers", "2"]) == 0
    keras_path = fit_network(dataset, root / "fit", TINY, verbose=0)
    assert main(["export", "--keras", str(keras_path), "--dataset", str(dataset), "--out", str(model)]) == 0
    return root, json.loads(model.with_suffix(".card.json").read_text())


@dataclass(frozen=True)
class Chain:
    out: Path
    report: dict[str, Any]  # what ``samplechop-train all`` printed
    card: dict[str, Any]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    pytest.importorskip("tinysoundfont", reason="the renderer is not installed")
    from samplechop.trainer.cli import main
    from samplechop.trainer.corpus.sources import missing_sources

    if missing_sources():  # scripts/setup --dev installs them; a bare pip install does not
        pytest.skip(f"soundfonts/kits missing: {[source.package for source in missing_sources()]}")
    out = tmp_path_factory.mktemp("chain") / "run"
    arguments = ["all", "--out", str(out), "--records", "3", "--seed", "5", "--epochs", "1"]
    # One process: worker processes would only add their start-up here.
    options = ["--min-duration", "5", "--max-duration", "6", "--workers", "1"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([*arguments, *options]) == 0
    return Chain(out, json.loads(printed.getvalue()), json.loads((out / "model.card.json").read_text()))


def test_export_writes_a_checked_model_and_card(trained: tuple[Path, dict[str, Any]]) -> None:
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


def test_the_tiny_network_learns_where_beats_downbeats_and_chops_are(trained: tuple[Path, dict[str, Any]]) -> None:
    # Four epochs on eight click-track records rank each head's frames well above chance (lift 1) and above what
    # the untrained network already gets from the features (see TINY): it learned, it was not born knowing.
    metrics = trained[1]["metrics"]["validation"]
    assert metrics["beat_lift"] > 4.0 and metrics["downbeat_lift"] > 3.0 and metrics["chop_lift"] > 3.0, metrics


def test_the_service_refuses_a_model_file_that_is_not_the_one_in_its_card(
    tmp_path: Path, trained: tuple[Path, dict[str, Any]]
) -> None:
    from samplechop.service.engine import ChopModel, ModelLoadError

    root, card = trained
    model = tmp_path / "swapped.onnx"
    model.write_bytes((root / "model.onnx").read_bytes() + b"\0")
    model.with_suffix(".card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="not the model its card"):
        ChopModel(model)


def test_export_refuses_a_model_that_breaks_parity(
    tmp_path: Path, trained: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ONNX file that does not compute what the Keras model computes is refused at the real tolerance and
    removed. The conversion here writes another network (the shipped model) in its place; real conversions pass
    the same check in the test above and in the whole chain."""
    from samplechop.trainer import export
    from samplechop.trainer.cli import SHIPPED_MODEL

    def wrong_conversion(keras_path: Path, onnx_path: Path, **_: object) -> None:
        shutil.copyfile(SHIPPED_MODEL, onnx_path)

    monkeypatch.setattr(export, "export_onnx", wrong_conversion)
    target = tmp_path / "refused.onnx"
    with pytest.raises(export.ParityError, match="export refused"):
        export.checked_export(
            trained[0] / "fit" / "model.keras",
            target,
            [np.random.default_rng(0).random((1, 50, FEATURE_SPEC.n_features), np.float32)],
            input_shape=(None, None, FEATURE_SPEC.n_features),
            input_name="features",
            output_name="activations",
        )
    assert not target.exists()


def test_the_whole_chain_on_a_tiny_rendered_corpus(chain: Chain) -> None:
    report, card = chain.report, chain.card
    assert report["model_id"] == card["model_id"]
    assert card["recipe"] == {
        "command": "all",
        "records": 3,
        "seed": 5,
        "min_duration_s": 5.0,
        "max_duration_s": 6.0,
        "epochs": 1,
    }
    assert card["data"]["records"] == 3 and card["data"]["seed"] == 5
    assert sum(card["data"]["kinds"].values()) == 3
    assert card["data"]["licences"] and not any("non-commercial" in lic.lower() for lic in card["data"]["licences"])
    assert card["export"]["parity_max_abs_diff"] <= 1e-5  # the recipe's own network converts exactly too
    assert set(report["timings_s"]) >= {"corpus_s", "build_s", "fit_s"}
    assert len(list((chain.out / "corpus").glob("*.beats"))) == 3


def test_training_reproduces_the_same_weights_bit_for_bit(tmp_path: Path, trained: tuple[Path, dict[str, Any]]) -> None:
    """What ``samplechop-train reproduce`` relies on: the same corpus built again (in one process, the fixture used
    two worker processes) and the network fitted again with the same config and seed give the same weights, bit for
    bit, hence the same model id."""
    from samplechop.trainer.cli import main
    from samplechop.trainer.network import fit_network, model_id

    root, card = trained
    corpus, dataset = str(root / "corpus"), tmp_path / "dataset"
    assert main(["build", "--corpus", corpus, "--out", str(dataset), "--seed", "3", "--workers", "1"]) == 0
    fit_network(dataset, tmp_path / "fit", TINY, verbose=0)
    weights_sha256 = json.loads((tmp_path / "fit" / "fit.json").read_text())["weights_sha256"]
    assert weights_sha256 == card["weights_sha256"]
    assert model_id(weights_sha256) == card["model_id"]
