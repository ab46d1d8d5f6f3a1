"""The chopping engine on short synthetic records where the right answer is known."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from service.engine import (
    AudioDecodeError,
    ChopParams,
    InvalidParameters,
    RecordTooLong,
    SilentRecord,
    slice_files,
    write_slices,
    zip_bytes,
)
from service.engine.slices import FADE_S
from tests.synth import SynthRecord, beat_record


def _f_measure(reference: np.ndarray, estimated: np.ndarray, window_s: float = 0.07) -> float:
    """Beat F-measure (each estimate matches at most one reference within ``window_s``), as mir_eval counts it."""
    if reference.size == 0 or estimated.size == 0:
        return 0.0
    used: set[int] = set()
    hits = 0
    for time in estimated:
        distances = np.abs(reference - time)
        for index in np.argsort(distances):
            if distances[index] > window_s:
                break
            if int(index) not in used:
                used.add(int(index))
                hits += 1
                break
    precision, recall = hits / estimated.size, hits / reference.size
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


class _ConstantModel:
    """The network replaced by a constant: what the engine does without it."""

    def __init__(self, model) -> None:
        self.model_id = "constant"
        self.model = model

    def predict(self, model_input: np.ndarray):
        from service.engine import Activations

        flat = np.full(model_input.shape[0], 0.2, dtype=np.float32)
        return Activations(beat=flat, downbeat=flat, chop=flat)


@pytest.fixture(scope="module")
def grooves() -> list[tuple[bytes, SynthRecord]]:
    records = []
    for bpm in (96.0, 110.0, 132.0):
        record = beat_record(16.0, bpm=bpm, seed=int(bpm))
        buffer = io.BytesIO()
        sf.write(buffer, record.audio, record.sample_rate, format="WAV")
        records.append((buffer.getvalue(), record))
    return records


def _grid_scores(chopper, grooves) -> tuple[list[float], list[float], list[float]]:
    beat_f, downbeat_f, on_downbeat = [], [], []
    for data, record in grooves:
        result = chopper.chop(data, ChopParams()).result
        beat_f.append(_f_measure(record.beats_s, result.beats_s))
        downbeat_f.append(_f_measure(record.downbeats_s, result.downbeats_s))
        starts = np.array([chop.start for chop in result.chops])
        on_downbeat.append(float(np.mean(np.min(np.abs(starts[:, None] - record.downbeats_s), axis=1) <= 0.07)))
    return beat_f, downbeat_f, on_downbeat


def test_the_network_hears_beats_and_bars(chopper, grooves) -> None:
    beat_f, downbeat_f, on_downbeat = _grid_scores(chopper, grooves)
    assert min(beat_f) >= 0.9, beat_f
    assert np.mean(downbeat_f) >= 0.6, downbeat_f
    assert np.mean(on_downbeat) >= 0.6, on_downbeat


def test_without_the_network_the_grid_falls_apart(chopper, grooves) -> None:
    # The regression guard: the same engine with the network swapped for a constant must lose the beat.
    from service.engine import Chopper

    beat_f, _, on_downbeat = _grid_scores(Chopper(_ConstantModel(chopper.model)), grooves)
    assert max(beat_f) < 0.6, beat_f
    assert np.mean(on_downbeat) < 0.4, on_downbeat


def test_chops_land_on_hits(chopper, beat_wav: Path, beat_synth: SynthRecord) -> None:
    result = chopper.chop(beat_wav, ChopParams(chops=6)).result
    assert len(result.chops) == 6
    for chop in result.chops:
        assert np.min(np.abs(beat_synth.beats_s - chop.start)) <= 0.03, chop


def test_result_document(chopper, beat_wav: Path) -> None:
    record = chopper.chop(beat_wav, ChopParams(chops=4, top_n=8, diversity=0.5))
    document = record.result.to_dict()
    assert document["sample_rate"] == 44_100
    assert document["channels"] == 2
    assert document["model_id"] == chopper.model.model_id
    assert document["feature_version"] == "2"
    assert document["tempo_bpm"] == pytest.approx(96.0, rel=0.04)
    assert document["beats_per_bar"] == 4
    assert len(document["grid"]["beats"]) >= 10 and set(document["grid"]["downbeats"]) <= set(document["grid"]["beats"])
    assert document["params"]["lambda"] == 0.5
    starts = [chop["start"] for chop in document["chops"]]
    assert starts == sorted(starts)
    assert [chop["index"] for chop in document["chops"]] == [1, 2, 3, 4]
    assert sorted(chop["rank"] for chop in document["chops"]) == [1, 2, 3, 4]
    for chop, following in zip(document["chops"], document["chops"][1:], strict=False):
        assert chop["end"] == following["start"]
    assert document["chops"][-1]["end"] == pytest.approx(document["duration"])


def test_slices_tile_the_record_sample_exactly(chopper, beat_wav: Path) -> None:
    record = chopper.chop(beat_wav, ChopParams(chops=5))
    original = record.audio.original
    first = record.result.chops[0].start_sample
    pieces = [original[chop.start_sample : chop.end_sample] for chop in record.result.chops]
    np.testing.assert_array_equal(np.concatenate(pieces), original[first:])
    fade = round(FADE_S * record.audio.original_rate)
    for (name, data), chop in zip(slice_files(record), record.result.chops, strict=True):
        decoded, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        assert name == f"chop_{chop.index:02d}.wav"
        assert rate == 44_100
        assert decoded.shape == (chop.end_sample - chop.start_sample, 2)
        interior = slice(fade, decoded.shape[0] - fade)
        np.testing.assert_allclose(
            decoded[interior], original[chop.start_sample : chop.end_sample][interior], atol=1e-4
        )
        assert abs(decoded[0]).max() < 1e-3  # faded in: no click


def test_no_chop_starts_in_the_last_moments(chopper, beat_wav: Path) -> None:
    for chops in (4, 12):
        result = chopper.chop(beat_wav, ChopParams(chops=chops, top_n=16)).result
        assert all(chop.end - chop.start >= 0.2 for chop in result.chops)


def test_max_length_and_24_bit(chopper, beat_wav: Path) -> None:
    record = chopper.chop(beat_wav, ChopParams(chops=3, max_length_s=0.5, bit_depth=24))
    for chop in record.result.chops:
        assert chop.end - chop.start <= 0.51
    _name, data = next(slice_files(record))
    assert sf.info(io.BytesIO(data)).subtype == "PCM_24"


def test_zip_and_folder_output(chopper, beat_wav: Path, tmp_path: Path) -> None:
    record = chopper.chop(beat_wav, ChopParams(chops=4))
    with zipfile.ZipFile(io.BytesIO(zip_bytes(record))) as archive:
        names = archive.namelist()
        document = json.loads(archive.read("chops.json"))
    assert names == [*[f"chop_{i:02d}.wav" for i in range(1, 5)], "chops.json"]
    assert [c["file"] for c in document["chops"]] == names[:-1]
    written = write_slices(record, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written)


def test_more_chops_than_material_returns_what_there_is(chopper, tmp_path: Path) -> None:
    rate = 44_100
    audio = np.zeros(rate * 2, dtype=np.float32)
    audio[rate // 2 : rate // 2 + 500] = 0.5
    path = tmp_path / "one_click.wav"
    sf.write(path, audio, rate)
    result = chopper.chop(path, ChopParams(chops=8, min_distance_s=1.0)).result
    assert 1 <= len(result.chops) <= 2


def test_silent_empty_and_non_audio_records(chopper, tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(44_100, dtype=np.float32), 44_100)
    with pytest.raises(SilentRecord):
        chopper.chop(silent)
    with pytest.raises(AudioDecodeError):
        chopper.chop(b"")
    with pytest.raises(AudioDecodeError):
        chopper.chop(b"ID3 this is text renamed to mp3")


def test_duration_limit(beat_wav: Path) -> None:
    from service.engine import ChopModel, Chopper

    with pytest.raises(RecordTooLong):
        Chopper(ChopModel(), max_duration_s=2.0).chop(beat_wav)


@pytest.mark.parametrize(
    "params",
    [dict(chops=0), dict(chops=9, top_n=8), dict(diversity=1.5), dict(bit_depth=8), dict(max_length_s=0.0)],
)
def test_bad_parameters(params: dict) -> None:
    with pytest.raises(InvalidParameters):
        ChopParams(**params)
