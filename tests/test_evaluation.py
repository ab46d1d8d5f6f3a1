"""The quality bench's machinery (bench/eval) on hand-made points and tiny synthetic dev sets with known answers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from bench.eval.data import SAMPLE_RATE_HZ, DevDataError, DevRecord, load_dev, load_split, tempo_from_beats
from bench.eval.evaluate import RecordResult, evaluate, gate, markdown, score_output, summarise
from bench.eval.metrics import (
    ACC2_FACTORS,
    beat_f_measure,
    bootstrap_mean,
    precision_at,
    tempo_correct,
)
from bench.eval.systems import ConstantNetwork, SystemEntry, SystemOutput, engine_output, strongest

SHARED_DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "dev"


# ---- P@ and F ---------------------------------------------------------------------------------------------------


def test_precision_counts_points_within_tolerance() -> None:
    events = np.array([1.0, 2.0, 3.0])
    assert precision_at(np.array([1.0, 2.03, 3.5]), events, 0.07) == pytest.approx(2 / 3)
    assert precision_at(np.array([1.069, 1.931]), events, 0.07) == 1.0
    assert precision_at(np.array([1.071, 2.5]), events, 0.07) == 0.0
    assert precision_at(np.array([0.5, 1.0]), np.zeros(0), 0.07) == 0.0  # no events: nothing is hit


def test_a_first_slice_start_at_zero_does_not_count() -> None:
    events = np.array([0.0, 1.0, 2.0])
    # The point at 0 s sits on an event yet is neither a hit nor in the denominator.
    assert precision_at(np.array([0.0, 1.0, 1.5]), events, 0.07) == pytest.approx(1 / 2)
    assert precision_at(np.array([0.0, 1.5]), events, 0.07) == 0.0
    assert precision_at(np.array([0.0]), events, 0.07) is None


def test_beat_f_measure_known_values_untrimmed() -> None:
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    # 2 of 3 estimates match (precision 2/3), 2 of 4 references found (recall 1/2): F = 4/7.
    assert beat_f_measure(reference, np.array([1.02, 2.5, 3.0])) == pytest.approx(4 / 7)
    # mir_eval's trim_beats would drop everything before 5 s and score 0; the bench does not trim.
    assert beat_f_measure(reference, reference.copy()) == 1.0
    assert beat_f_measure(reference, np.array([4.0, 1.0, 3.0, 2.0])) == 1.0  # order does not matter
    assert beat_f_measure(reference, np.zeros(0)) == 0.0
    assert beat_f_measure(reference, reference + 0.08) == 0.0  # outside the 70 ms window


def test_tempo_accuracy_with_octave_and_triple_tolerance() -> None:
    assert tempo_correct(124.0, 120.0)  # 3.3 % off
    assert not tempo_correct(125.0, 120.0)  # 4.2 % off
    assert not tempo_correct(240.0, 120.0)
    assert tempo_correct(240.0, 120.0, ACC2_FACTORS)
    assert tempo_correct(61.0, 120.0, ACC2_FACTORS)
    assert tempo_correct(40.0, 120.0, ACC2_FACTORS)  # a 3-meter read as its bars
    assert not tempo_correct(180.0, 120.0, ACC2_FACTORS)  # ×1.5 is a wrong tempo
    assert not tempo_correct(float("nan"), 120.0, ACC2_FACTORS)
    assert tempo_from_beats(np.arange(0.0, 10.0, 0.5)) == pytest.approx(120.0)


# ---- bootstrap ----------------------------------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_records() -> None:
    rng = np.random.default_rng(7)
    few = bootstrap_mean(rng.uniform(0, 1, 10))
    many = bootstrap_mean(rng.uniform(0, 1, 1000))
    assert few is not None and many is not None
    for interval in (few, many):
        assert interval.low <= interval.mean <= interval.high
        assert interval.high > interval.low
    assert many.high - many.low < (few.high - few.low) / 3  # ~1/√100 of the width
    values = rng.uniform(0, 1, 30)
    assert bootstrap_mean(values) == bootstrap_mean(values)  # fixed seed: the same interval every run
    single = bootstrap_mean(np.array([0.4]))
    assert single is not None and single.low == single.high == 0.4
    assert bootstrap_mean(np.zeros(0)) is None


# ---- dev data -----------------------------------------------------------------------------------------------------


def write_tone(path: Path, seconds: float = 2.0) -> None:
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SAMPLE_RATE_HZ)


def make_dev(root: Path, split_text: str) -> Path:
    (root / "mdb_drums" / "audio").mkdir(parents=True)
    (root / "mdb_drums" / "beats").mkdir()
    (root / "mdb_drums" / "onsets").mkdir()
    (root / "real" / "loops").mkdir(parents=True)
    write_tone(root / "mdb_drums" / "audio" / "Song_Drum.wav")
    (root / "mdb_drums" / "beats" / "Song.beats").write_text("0.5\t1\n1.0\t2\n1.5\t3\n2.0\t4\n")
    (root / "mdb_drums" / "onsets" / "Song.onsets").write_text("0.50 \t KD \n1.00 \t SD \n")
    for name in ("a", "b"):
        write_tone(root / "real" / f"{name}.wav")
        (root / "real" / f"{name}.beats").write_text("0.25\t4\n0.75\t1\n1.25\t2\n")
    write_tone(root / "real" / "loops" / "loop.wav")
    (root / "real" / "loops" / "loop.beats").write_text("0.0\n0.5\n1.0\n")
    (root / "real" / "loops" / "loop.bpm").write_text("120\n")
    (root / "SPLIT.tsv").write_text(split_text)
    return root


SPLIT = "track\tsplit\nmdb_drums/Song_Drum\ttune\nreal/a\ttune\nreal/b\treport\n"


def test_split_loading_from_a_temp_split_file(tmp_path: Path) -> None:
    dev = make_dev(tmp_path, SPLIT)
    assert load_split(dev / "SPLIT.tsv") == {"mdb_drums/Song_Drum": "tune", "real/a": "tune", "real/b": "report"}
    tune = load_dev(dev, ("tune",), loops=False)
    assert [r.key for r in tune] == ["mdb_drums/Song_Drum", "real/a"]
    report = load_dev(dev, ("report",))
    assert [(r.key, r.split, r.group) for r in report] == [
        ("real/b", "report", "real"),
        ("real/loops/loop", None, "loops"),
    ]
    drums = tune[0]
    assert drums.downbeats_s is not None and drums.downbeats_s.tolist() == [0.5]
    assert drums.onsets_s is not None and drums.onsets_s.tolist() == [0.5, 1.0]
    assert drums.tempo_bpm == pytest.approx(120.0)
    loop = report[1]
    assert loop.downbeats_s is None and loop.tempo_bpm == 120.0
    assert report[0].downbeats_s is not None and report[0].downbeats_s.tolist() == [0.75]
    assert report[0].duration_s == pytest.approx(2.0)  # decoded on first use


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("real/a\ttune\nreal/b\tholdout\nmdb_drums/Song_Drum\ttune\n", "tune|report"),
        ("real/a\ttune\nreal/a\treport\nreal/b\ttune\nmdb_drums/Song_Drum\ttune\n", "twice"),
        ("real/a\ttune\nmdb_drums/Song_Drum\ttune\n", "not in SPLIT.tsv"),  # real/b is on disk, unsplit
        (SPLIT + "real/gone\treport\n", "no audio"),
    ],
)
def test_a_bad_split_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    dev = make_dev(tmp_path, text)
    with pytest.raises(DevDataError, match=message):
        load_dev(dev)


# ---- scoring, systems, evaluation, gate -----------------------------------------------------------------------


def toy_record(tmp_path: Path) -> DevRecord:
    path = tmp_path / "toy.wav"
    write_tone(path, 4.0)
    beats = np.arange(0.5, 4.0, 0.5)
    return DevRecord(
        key="real/toy",
        group="real",
        split="report",
        path=path,
        beats_s=beats,
        downbeats_s=beats[::4],
        onsets_s=None,
        tempo_bpm=120.0,
    )


def test_score_output_on_known_points(tmp_path: Path) -> None:
    record = toy_record(tmp_path)  # beats every 0.5 s from 0.5, downbeats 0.5 and 2.5
    output = SystemOutput(
        chops_s=np.array([0.0, 0.5, 1.0, 1.26, 2.5]),
        beats_s=record.beats_s.copy(),
        downbeats_s=np.array([0.5, 1.5, 2.5]),
        tempo_bpm=60.0,
    )
    metrics = score_output(record, output)
    assert metrics["p_beat"] == pytest.approx(3 / 4)  # 0 s is not counted; 1.26 is 240 ms off
    assert metrics["p_downbeat"] == pytest.approx(2 / 4)
    assert metrics["p_onset"] is None  # no onset annotation
    assert metrics["beat_f"] == 1.0
    assert metrics["downbeat_f"] == pytest.approx(2 * (2 / 3) * 1.0 / (2 / 3 + 1.0))
    assert metrics["tempo_acc1"] == 0.0 and metrics["tempo_acc2"] == 1.0
    assert metrics["diversity"] is not None and metrics["diversity"] >= 0.0
    chops_only = score_output(record, SystemOutput(chops_s=np.array([1.0, 2.0])))
    assert chops_only["beat_f"] is None and chops_only["tempo_acc1"] is None


def test_evaluate_ratios_failures_tables_and_gate(tmp_path: Path) -> None:
    record = toy_record(tmp_path)

    def on_beats(rec: DevRecord) -> SystemOutput:
        return SystemOutput(rec.beats_s[:4], rec.beats_s, rec.downbeats_s, 120.0)

    def broken(rec: DevRecord) -> SystemOutput:
        raise RuntimeError("no model")

    def scattered(rec: DevRecord) -> list[SystemOutput]:
        return [SystemOutput(np.array([0.1, 1.2]) + shift) for shift in (0.0, 0.2)]

    entries = [
        SystemEntry("ours", "on the beats", on_beats),
        SystemEntry("ref", "the same as ours", on_beats),
        SystemEntry("random", "off the beats", scattered),
        SystemEntry("broken", "raises", broken),
    ]
    evaluation = evaluate([record], entries, reference="ref", random_reference="random")
    by_system = {r.system: r for r in evaluation.results}
    assert by_system["ours"].metrics["diversity_vs_reference"] == pytest.approx(1.0)
    assert by_system["random"].metrics["diversity_vs_random"] == pytest.approx(1.0)
    assert by_system["random"].metrics["p_beat"] == 0.0
    assert by_system["broken"].error is not None and "no model" in by_system["broken"].error
    assert "audio" not in record._cache  # released after its systems ran

    table = summarise(evaluation.results, "real", "report", ["ours", "random", "broken"])
    ours = table.rows["ours"]
    assert ours["p_beat"] is not None and ours["p_beat"].mean == 1.0
    assert ours["beat_f"] is not None and ours["beat_f"].mean == 1.0
    assert table.rows["random"]["beat_f"] is None
    assert table.failures["broken"] and all(v is None for v in table.rows["broken"].values())
    text = markdown(table)
    assert "| ours |" in text and "broken failed on 1 records" in text and "P@onset" not in text

    passed, _ = gate(evaluation.results, "ours", {"p_beat": 0.9, "downbeat_f": 0.9})
    assert passed
    passed, lines = gate(evaluation.results, "random", {"p_beat": 0.5})
    assert not passed and "FAIL" in lines[0]
    passed, _ = gate(evaluation.results, "random", {"downbeat_f": 0.0})  # no downbeats at all: fails
    assert not passed
    passed, _ = gate(evaluation.results, "broken", {"p_beat": 0.0})
    assert not passed


def test_gate_uses_only_the_report_split() -> None:
    def result(split: str, value: float) -> RecordResult:
        return RecordResult(f"real/{split}{value}", "real", split, "sys", {"p_downbeat": value})

    results = [result("tune", 0.0), result("tune", 0.1), result("report", 0.8), result("report", 0.6)]
    passed, lines = gate(results, "sys", {"p_downbeat": 0.7})
    assert passed and "over 2 report records" in lines[0]
    assert not gate(results, "sys", {"p_downbeat": 0.75})[0]


def test_engine_output_reads_the_chops_and_the_grid() -> None:
    chops = [SimpleNamespace(start=2.0), SimpleNamespace(start=1.0)]
    result = SimpleNamespace(chops=chops, beats_s=np.array([1.5, 1.0]), downbeats_s=np.array([1.0]), tempo_bpm=120)
    output = engine_output(result)
    assert output.chops_s is not None and output.chops_s.tolist() == [1.0, 2.0]
    assert output.beats_s is not None and output.beats_s.tolist() == [1.0, 1.5]
    assert output.downbeats_s is not None and output.tempo_bpm == 120.0
    silent = engine_output(SimpleNamespace(chops=chops, beats_s=np.zeros(0), downbeats_s=np.zeros(0), tempo_bpm=None))
    assert silent.tempo_bpm is None


def test_constant_network_keeps_each_head_mean_and_drops_the_shape() -> None:
    from samplechop.service.engine import Activations

    def predict(model_input: np.ndarray) -> Activations:
        column = model_input[:, 0]
        return Activations(beat=column, downbeat=column * 2, chop=column * 0)

    constant = ConstantNetwork(SimpleNamespace(model_id="m1", predict=predict))
    output = constant.predict(np.array([[0.0], [1.0], [0.5]], dtype=np.float32))
    assert output.beat.tolist() == [0.5, 0.5, 0.5] and output.downbeat.tolist() == [1.0, 1.0, 1.0]
    assert output.chop.tolist() == [0.0, 0.0, 0.0]
    assert constant.model_id == "m1+constant"


def test_strongest_keeps_the_top_k_apart() -> None:
    times = np.array([0.0, 0.1, 1.0, 2.0])
    strength = np.zeros(200)
    frames = np.round(times * SAMPLE_RATE_HZ / 512).astype(int)
    strength[frames] = [3.0, 5.0, 1.0, 2.0]
    # 0.1 s is strongest; 0.0 s is too close to it; then 2.0 s.
    assert strongest(times, strength, 2).tolist() == [0.1, 2.0]


def test_quality_cli_rejects_bad_input_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import quality

    assert quality.main(["--dev-dir", str(tmp_path / "missing")]) == 2
    assert "no dev set" in capsys.readouterr().err
    assert quality.main(["--gate"]) == 2
    assert "at least one minimum" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED_DEV / "SPLIT.tsv").is_file(), reason="no ../shared dev set")
def test_the_shared_dev_set_loads_with_its_split() -> None:
    records = load_dev(SHARED_DEV)
    by_group: dict[tuple[str, str | None], int] = {}
    for record in records:
        by_group[(record.group, record.split)] = by_group.get((record.group, record.split), 0) + 1
        assert record.beats_s.size >= 2 and np.all(np.diff(record.beats_s) > 0)
        assert record.tempo_bpm is not None and 40 <= record.tempo_bpm <= 250
    assert by_group[("mdb_drums", "tune")] == 9
    assert by_group[("real", "tune")] + by_group[("real", "report")] == 55
    assert by_group[("loops", None)] == 13
    assert all(r.onsets_s is not None for r in records if r.group == "mdb_drums")
