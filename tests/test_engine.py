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
from service.engine.candidates import merge_close, pick_candidates, positive_runs, suppress_near
from service.engine.diversify import pairwise_distances, select_diverse
from service.engine.slices import FADE_S
from tests.synth import SynthRecord


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
    assert document["feature_version"] == "1"
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


# --- the steps on their own ---------------------------------------------------------------------------------------


def test_positive_runs_and_merging() -> None:
    probabilities = np.array([0.1, 0.8, 0.9, 0.2, 0.75, 0.1, 0.95], dtype=np.float32)
    assert positive_runs(probabilities, 0.7) == [(1, 2), (4, 4), (6, 6)]
    np.testing.assert_array_equal(merge_close(np.array([2, 4, 6]), probabilities, merge_frames=3), [2, 6])
    np.testing.assert_array_equal(suppress_near(np.array([2, 4, 10]), np.array([0.5, 0.9, 0.1]), 3), [4, 10])


def test_candidates_fill_up_below_threshold_when_too_few_clear_it() -> None:
    probabilities = np.zeros(400, dtype=np.float32)
    probabilities[[50, 150, 250, 350]] = [0.9, 0.4, 0.3, 0.2]
    onsets = np.zeros(400, dtype=np.float32)
    common = dict(threshold=0.7, top_n=16, min_distance_frames=10, merge_frames=2, snap_radius_frames=0)
    frames, scores = pick_candidates(probabilities, onsets, minimum=1, **common)
    np.testing.assert_array_equal(frames, [50])
    frames, scores = pick_candidates(probabilities, onsets, minimum=3, **common)
    np.testing.assert_array_equal(frames, [50, 150, 250, 350])
    assert np.all(np.diff(scores) <= 0)


def test_candidates_snap_to_the_onset() -> None:
    probabilities = np.zeros(100, dtype=np.float32)
    probabilities[40] = 0.9
    onsets = np.zeros(100, dtype=np.float32)
    onsets[43] = 5.0
    found, _ = pick_candidates(
        probabilities,
        onsets,
        threshold=0.7,
        top_n=4,
        minimum=1,
        min_distance_frames=5,
        merge_frames=2,
        snap_radius_frames=4,
    )
    np.testing.assert_array_equal(found, [43])


def test_beats_in_the_bar_position_the_model_favours_rank_first() -> None:
    # 16 beats 40 frames apart; the model is sure of beat positions 0 and fairly sure of 2 (half-bar changes).
    beats = np.arange(16) * 40 + 20
    probabilities = np.zeros(700, dtype=np.float32)
    probabilities[beats[0::4]] = 0.9
    probabilities[beats[2::4]] = 0.8
    probabilities[beats[1::4]] = 0.05
    onsets = np.zeros(700, dtype=np.float32)
    onsets[beats] = 1.0
    frames, scores = pick_candidates(
        probabilities,
        onsets,
        threshold=0.7,
        top_n=8,
        minimum=4,
        min_distance_frames=10,
        merge_frames=2,
        snap_radius_frames=3,
        beat_frames=beats,
    )
    assert set(frames[:4]) == set(beats[0::4])
    assert set(frames[4:8]) == set(beats[2::4])
    assert scores[0] == pytest.approx(0.9)


def _clustered(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Three clusters of material; the most probable candidates all come from cluster 0.
    centres = np.eye(3) * 10.0
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    vectors = centres[labels] + rng.normal(0.0, 0.1, (labels.size, 3))
    probabilities = np.array([0.99, 0.98, 0.97, 0.96, 0.80, 0.79, 0.75, 0.74])
    return vectors, probabilities


def test_lambda_zero_takes_the_most_probable() -> None:
    vectors, probabilities = _clustered(np.random.default_rng(0))
    assert select_diverse(probabilities, vectors, 3, 0.0) == [0, 1, 2]


def test_lambda_near_one_spreads_over_distinct_material() -> None:
    vectors, probabilities = _clustered(np.random.default_rng(0))
    chosen = select_diverse(probabilities, vectors, 3, 0.999)
    assert chosen[0] == 0
    assert {0: "a", 4: "b", 5: "b", 6: "c", 7: "c"}.get(chosen[1]) != {6: "c", 7: "c", 4: "b", 5: "b"}.get(chosen[2])
    assert len({int(np.argmax(vectors[i])) for i in chosen}) == 3


def test_identical_candidates_divide_by_nothing() -> None:
    vectors = np.ones((5, 4))
    assert np.all(pairwise_distances(vectors) == 0.0)
    assert select_diverse(np.array([0.1, 0.5, 0.3, 0.2, 0.4]), vectors, 3, 0.999) == [1, 4, 2]
    assert select_diverse(np.array([0.5]), vectors[:1], 3, 0.999) == [0]
