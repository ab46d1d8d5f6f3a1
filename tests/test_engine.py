"""The chopping engine on short synthetic records where the right answer is known."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplechop.service.engine import (
    AudioDecodeError,
    ChopParams,
    InvalidParameters,
    RecordTooLong,
    SilentRecord,
    slice_files,
    write_slices,
    zip_bytes,
)
from samplechop.service.engine.pipeline import root_note_for
from samplechop.service.engine.slices import FADE_IN_S, FADE_OUT_S, dc_offset
from samplechop.service.engine.writers import zip_name
from tests.synth import SynthRecord, beat_record
from tests.test_bars import f_measure  # checked against mir_eval there


class _ConstantModel:
    """The network replaced by a constant: what the engine does without it."""

    def __init__(self, model) -> None:
        self.model_id = "constant"
        self.model = model

    def predict(self, model_input: np.ndarray):
        from samplechop.service.engine import Activations

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
        beat_f.append(f_measure(record.beats_s, result.beats_s))
        downbeat_f.append(f_measure(record.downbeats_s, result.downbeats_s))
        starts = np.array([chop.start for chop in result.chops])
        on_downbeat.append(float(np.mean(np.min(np.abs(starts[:, None] - record.downbeats_s), axis=1) <= 0.07)))
    return beat_f, downbeat_f, on_downbeat


def test_the_network_hears_beats_and_bars(chopper, grooves) -> None:
    beat_f, _, _ = _grid_scores(chopper, grooves)
    assert min(beat_f) >= 0.9, beat_f
    for data, _record in grooves:
        result = chopper.chop(data, ChopParams()).result
        # a 4/4 bar: every fourth decoded beat is a downbeat, and the chops start on them
        assert result.beats_per_bar == 4
        positions = np.flatnonzero(np.isin(result.beats_s, result.downbeats_s))
        assert positions.size >= 3 and set(np.diff(positions)) == {4}, positions
        # downbeats are the first candidates: the chops take nearly all of them before any other beat
        on_downbeat = sum(chop.downbeat for chop in result.chops)
        assert on_downbeat >= min(positions.size, len(result.chops)) - 1, (on_downbeat, positions.size)


@pytest.mark.xfail(
    strict=True,
    reason="the shipped chop-f2-d5abdbde8f20 puts these grooves' bar line on beat 3 (kick only) instead of beat 1 "
    "(kick + chord change); on real records its downbeat F is 0.596 (README). Drop the marker once a model hears it",
)
def test_the_network_puts_the_bar_line_on_the_chord_change(chopper, grooves) -> None:
    _, downbeat_f, on_downbeat = _grid_scores(chopper, grooves)
    assert np.mean(downbeat_f) >= 0.6, downbeat_f
    assert np.mean(on_downbeat) >= 0.6, on_downbeat


def test_without_the_network_the_grid_falls_apart(chopper, grooves) -> None:
    # The regression guard: the same engine with the network swapped for a constant must lose the beat.
    from samplechop.service.engine import Chopper

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
    rate = record.audio.original_rate
    fade_in, fade_out = round(FADE_IN_S * rate), round(FADE_OUT_S * rate)
    for (name, data), chop in zip(slice_files(record), record.result.chops, strict=True):
        decoded, wav_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        assert name == chop.file == f"beats_{chop.index:02d}.wav"
        assert wav_rate == 44_100
        assert decoded.shape == (chop.end_sample - chop.start_sample, 2)
        # Between the fades the slice is the original less its DC offset (clean edges, slices.py)
        dc = dc_offset(original, chop.start_sample, chop.end_sample, sample_rate_hz=rate)
        interior = slice(fade_in, decoded.shape[0] - fade_out)
        expected = np.clip(original[chop.start_sample : chop.end_sample][interior] - dc, -1.0, 1.0)
        np.testing.assert_allclose(decoded[interior], expected, atol=1e-4)
        assert abs(decoded[0]).max() < 1e-3 and abs(decoded[-1]).max() < 1e-3  # faded in and out: no click


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
    record = chopper.chop(beat_wav, ChopParams(chops=4), name="Beat Tape (Side A).flac")
    assert zip_name(record) == "beat-tape-side-a.zip"
    with zipfile.ZipFile(io.BytesIO(zip_bytes(record))) as archive:
        names = archive.namelist()
        document = json.loads(archive.read("chops.json"))
    slices = [f"beat-tape-side-a_{i:02d}.wav" for i in range(1, 5)]
    programs = ["beat-tape-side-a.sfz", "beat-tape-side-a.xpm", "beat-tape-side-a.mid"]
    assert names == [*slices, *programs, "chops.json"]
    assert [c["file"] for c in document["chops"]] == slices
    assert document["exports"] == programs and document["slug"] == "beat-tape-side-a"
    written = write_slices(record, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written) == sorted(names)
    # one program only when asked (the slices and chops.json always)
    only_xpm = chopper.chop(beat_wav, ChopParams(chops=4, export="xpm"))
    with zipfile.ZipFile(io.BytesIO(zip_bytes(only_xpm))) as archive:
        assert archive.namelist() == [*(f"beats_{i:02d}.wav" for i in range(1, 5)), "beats.xpm", "chops.json"]


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
    from samplechop.service.engine import ChopModel, Chopper

    with pytest.raises(RecordTooLong):
        Chopper(ChopModel(), max_duration_s=2.0).chop(beat_wav)


@pytest.mark.parametrize(
    "params",
    [dict(chops=0), dict(chops=9, top_n=8), dict(diversity=1.5), dict(bit_depth=8), dict(max_length_s=0.0)],
)
def test_bad_parameters(params: dict) -> None:
    with pytest.raises(InvalidParameters):
        ChopParams(**params)


# --- one parameter model -----------------------------------------------------------------------------------------


def test_every_parameter_is_defined_once_and_agrees_with_the_engine() -> None:
    from dataclasses import fields

    from samplechop.service.engine import exports, slicing
    from samplechop.service.engine.slices import LOOP_CROSSFADE_S
    from samplechop.service.parameters import BY_NAME, PARAMETERS

    assert [p.attribute for p in PARAMETERS] == [f.name for f in fields(ChopParams)]
    assert {p.name for p in PARAMETERS} >= {
        *("chops", "top_n", "lambda", "threshold", "min_distance", "max_length", "bit_depth", "mode", "bars"),
        *("beats", "one_shot_max", "loop_crossfade", "root_note", "export", "points", "snap"),
    }
    for parameter in PARAMETERS:
        assert parameter.help and parameter.default == getattr(ChopParams(), parameter.attribute)
        parameter.check(parameter.default)  # every default is allowed
    # the defaults the engine's own modules also hold
    assert BY_NAME["mode"].choices == tuple(mode.value for mode in slicing.LengthMode)
    assert BY_NAME["bars"].choices == slicing.BAR_CHOICES
    assert BY_NAME["one_shot_max"].default == slicing.ONE_SHOT_MAX_S
    assert BY_NAME["loop_crossfade"].default == LOOP_CROSSFADE_S
    assert BY_NAME["root_note"].default == exports.DEFAULT_ROOT_NOTE
    # text (CLI arguments) parses to the same parameters, and the document echoes them under their names
    params = ChopParams.from_text({"lambda": "0.5", "min_distance": "0.5", "points": " 1.5, 2,3.25 ", "bars": "2"})
    assert params == ChopParams(diversity=0.5, min_distance_s=0.5, points=(1.5, 2.0, 3.25), bars=2)
    assert params.to_dict()["lambda"] == 0.5 and params.to_dict()["points"] == [1.5, 2.0, 3.25]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"chops": "x"}, "chops must be a whole number"),
        ({"beats": "0"}, "beats must be more than 0"),
        ({"mode": "loop"}, "mode must be one of to-next, bars, beats, one-shot"),
        ({"bars": "3"}, "bars must be one of 1, 2, 4"),
        ({"points": "2,1"}, "increasing order"),
        ({"points": "1,1.0"}, "must not repeat"),
        ({"points": "1e3"}, "seconds separated by commas"),
        ({"points": "-1"}, "seconds separated by commas"),
        ({"root_note": "128"}, "root_note must be between 0 and 127"),
    ],
)
def test_bad_text_values_are_named(values: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParameters, match=message):
        ChopParams.from_text(values)


def test_pad_notes_stay_midi_notes() -> None:
    assert root_note_for(8, 36) == 36
    assert root_note_for(128, 36) == 0 and root_note_for(100, 60) == 28


# --- diversification on a record ----------------------------------------------------------------------------------

# Major triads (root, major third, fifth, octave) on four roots: A, D, C and G, as in tests/synth.py.
CHORD_ROOTS_HZ = {"A": 110.0, "D": 146.8, "C": 130.8, "G": 98.0}
# Seven bars of A and one each of G, C and D: the record's main chord holds most of its bars.
BAR_CHORDS = "AAGAACAADA"
CHORD_BPM = 120.0


def _triad(root_hz: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * root_hz * ratio * t) for ratio in (1.0, 1.26, 1.5, 2.0))
    return (0.12 * tone * np.minimum(1.0, t / 0.005) * np.exp(-t * 0.8)).astype(np.float32)


class _OracleModel:
    """A stand-in network whose chop head fires on every bar line and prefers the bars of the main chord (0.95) to
    the others (0.6): the best-scored candidates are then all alike, and only diversification can find the other
    chords. Its beat heads are not read (the test gives the chopper the grid)."""

    model_id = "oracle"

    def __init__(self, downbeats_s: np.ndarray, preferred: np.ndarray) -> None:
        self.downbeats_s, self.preferred = downbeats_s, preferred

    def predict(self, model_input: np.ndarray):
        from samplechop.service.engine import Activations
        from samplechop.shared_features import FEATURE_SPEC

        chop = np.zeros(model_input.shape[0], dtype=np.float32)
        frames = np.rint(self.downbeats_s * FEATURE_SPEC.frame_rate_hz).astype(int)
        chop[frames] = np.where(self.preferred, 0.95, 0.6)
        return Activations(beat=chop, downbeat=chop, chop=chop)


def test_diversification_finds_the_other_chords_the_best_scored_miss(tmp_path: Path) -> None:
    """On a record whose best-scored candidates are harmonically alike (seven bars of A, then one each of G, C, D),
    the default diversity picks chops over more chords than the same number of best-scored ones: MAD, not first-N.
    The grid and the chop head are the record's truth, so only the choice among the candidates is tested."""
    from samplechop.service.engine import BarGrid, Chopper

    rate, bar_s = 22_050, 4 * 60.0 / CHORD_BPM
    drums = beat_record(len(BAR_CHORDS) * bar_s + 1.0, bpm=CHORD_BPM, channels=1, rate=rate, chords=False, seed=9)
    audio = drums.audio[:, 0].copy()
    for bar, chord in enumerate(BAR_CHORDS):
        start = int(drums.downbeats_s[bar] * rate)
        tone = _triad(CHORD_ROOTS_HZ[chord], bar_s, rate)
        audio[start : start + tone.size] += tone[: audio.size - start]
    path = tmp_path / "chords.wav"
    sf.write(path, audio, rate)
    downbeats = drums.downbeats_s[: len(BAR_CHORDS)]
    beats = drums.beats_s[: 4 * len(BAR_CHORDS)]
    grid = BarGrid(beats, np.arange(beats.size) % 4 + 1, 4, CHORD_BPM)
    model = _OracleModel(downbeats, np.array([chord == "A" for chord in BAR_CHORDS]))
    chopper = Chopper(model, bar_decoder=lambda _activations, _features: grid)

    def chords(diversity: float) -> list[str]:
        result = chopper.chop(path, ChopParams(chops=4, diversity=diversity)).result
        bars = [int(np.argmin(np.abs(downbeats - chop.attack))) for chop in sorted(result.chops, key=lambda c: c.rank)]
        assert all(chop.downbeat for chop in result.chops)
        return [BAR_CHORDS[bar] for bar in bars]

    by_score = chords(0.0)
    assert by_score == ["A"] * 4  # the premise: the four best-scored candidates are alike
    diverse = chords(ChopParams().diversity)
    assert diverse[0] == "A"  # MAD starts from the best-scored candidate...
    assert sorted(diverse) == ["A", "C", "D", "G"], diverse  # ...then takes every other chord, once each


# --- length modes on the synthetic grooves ------------------------------------------------------------------------


def _wav_chunks(data: bytes) -> dict[bytes, bytes]:
    from samplechop.service.engine.slices import riff_chunks

    return {identifier: data[offset : offset + size] for identifier, offset, size in riff_chunks(data)}


def test_bars_chops_are_whole_bars_from_downbeats_and_loop_without_a_click(chopper, grooves) -> None:
    import struct

    for data, synth in grooves:
        bpm = 60.0 / float(np.median(np.diff(synth.beats_s)))
        record = chopper.chop(data, ChopParams(chops=4, mode="bars"))
        result = record.result
        loops = [chop for chop in result.chops if chop.loop]
        assert len(loops) >= 3, [chop.to_dict() for chop in result.chops]
        rate = result.sample_rate
        wavs = dict(slice_files(record))
        for chop in loops:
            assert chop.mode == "bars" and chop.bars in (1, 2, 4)
            # whole bars to the sample at the tempo fitted around the chop, which is the record's within 1 % (the
            # fit near the grid's end leans on fewer beats)
            bar_samples = chop.bars * result.beats_per_bar * 60.0 / chop.tempo_bpm * rate
            assert chop.length_samples == round(bar_samples)
            assert chop.tempo_bpm == pytest.approx(bpm, rel=0.01)
            assert chop.length_beats == pytest.approx(chop.bars * 4, abs=1e-4)  # within a sample
            # it starts a few ms before its attack, and the attack is on a decoded downbeat
            assert 0 <= chop.attack_sample - chop.start_sample <= round(0.009 * rate)
            assert chop.downbeat and np.min(np.abs(result.downbeats_s - chop.attack)) <= 0.035
            # the WAV loops over all of itself and its seam (last sample → first) does not click: no larger than
            # the biggest step between neighbouring samples of the original around the start
            decoded, _ = sf.read(io.BytesIO(wavs[chop.file]), dtype="float32", always_2d=True)
            assert decoded.shape[0] == chop.length_samples
            original = record.audio.read(chop.start_sample - 441, chop.start_sample + 441)
            seam = float(np.max(np.abs(decoded[0] - decoded[-1])))
            assert seam <= float(np.max(np.abs(np.diff(original, axis=0)))) + 2**-14
            smpl = _wav_chunks(wavs[chop.file])[b"smpl"]
            assert struct.unpack("<I", smpl[12:16])[0] == chop.note  # unity note
            assert struct.unpack("<2I", smpl[44:52]) == (0, chop.length_samples - 1)  # the loop: all of it


def test_bars_chops_begin_on_decoded_downbeats(chopper, grooves) -> None:
    """Bars chops start on the decoded bar lines (which bar line the network hears is the previous test's
    business): each loop's attack is within 35 ms of a decoded downbeat."""
    for data, _synth in grooves:
        result = chopper.chop(data, ChopParams(chops=4, mode="bars")).result
        attacks = np.array([chop.attack for chop in result.chops if chop.loop])
        assert attacks.size >= 3
        on_grid = np.min(np.abs(attacks[:, None] - result.downbeats_s[None, :]), axis=1) <= 0.035
        assert on_grid.all(), (attacks, result.downbeats_s)


def test_one_shot_chops_end_before_the_next_hit(chopper, beat_wav: Path, beat_synth: SynthRecord) -> None:
    result = chopper.chop(beat_wav, ChopParams(chops=6, mode="one-shot", one_shot_max_s=1.0)).result
    rate = result.sample_rate
    hits = np.round(beat_synth.beats_s * rate).astype(int)
    assert len(result.chops) == 6
    for chop in result.chops:
        following = hits[hits > chop.attack_sample + round(0.03 * rate)]
        assert chop.mode == "one-shot" and not chop.loop
        assert chop.start_sample < chop.attack_sample < chop.end_sample
        if following.size:
            assert chop.end_sample <= following[0], chop
            assert chop.end_sample >= following[0] - round(0.05 * rate)  # not cut short: the hit rings to the next
        assert chop.end - chop.start <= 1.0 + 0.005


def test_hand_placed_points_are_honoured_to_the_sample(chopper, beat_wav: Path) -> None:
    points = (0.123457, 1.0, 2.718282, 5.5)
    record = chopper.chop(beat_wav, ChopParams(points=points))
    result = record.result
    rate = result.sample_rate
    assert [chop.start_sample for chop in result.chops] == [round(p * rate) for p in points]
    assert [round(chop.to_dict()["start"] * rate) for chop in result.chops] == [round(p * rate) for p in points]
    assert [chop.end_sample for chop in result.chops] == [*(round(p * rate) for p in points[1:]), record.audio.frames]
    assert [chop.rank for chop in result.chops] == [1, 2, 3, 4] and result.candidates == 4
    assert result.params["points"] == list(points)
    for (_, data), chop in zip(slice_files(record), result.chops, strict=True):
        assert sf.info(io.BytesIO(data)).frames == chop.length_samples
    # the same modes apply: bars from a hand-placed point are still whole bars at the local tempo
    bars = chopper.chop(beat_wav, ChopParams(points=(0.3, 2.8), mode="bars", bars=1)).result
    assert [chop.start_sample for chop in bars.chops] == [round(0.3 * rate), round(2.8 * rate)]
    assert all(chop.loop and chop.bars == 1 for chop in bars.chops)


def test_points_snap_to_the_grid_or_an_onset(chopper, beat_wav: Path, beat_synth: SynthRecord) -> None:
    beats = beat_synth.beats_s
    near = (beats[1] + 0.08, beats[4] - 0.07, beats[6] + 0.05)
    for snap in ("grid", "onset"):
        result = chopper.chop(beat_wav, ChopParams(points=near, snap=snap)).result
        for chop, beat in zip(result.chops, (beats[1], beats[4], beats[6]), strict=True):
            assert abs(chop.attack - beat) <= 0.01, (snap, chop)
            assert 0 < chop.attack - chop.start <= 0.009  # then sliced a few ms before the attack


@pytest.mark.parametrize(
    ("points", "message"),
    [((1.0, 8.5), "8.500000 s is not inside the record"), ((1.0, 1.00001), "fall on the same sample")],
)
def test_points_the_record_cannot_hold(chopper, beat_wav: Path, points: tuple[float, ...], message: str) -> None:
    with pytest.raises(InvalidParameters, match=message):
        chopper.chop(beat_wav, ChopParams(points=points))


def test_exports_parse_back_and_point_at_the_slices(chopper, beat_wav: Path) -> None:
    import struct
    import xml.etree.ElementTree as ET

    from tests.test_exports import _parse_midi, _parse_sfz

    record = chopper.chop(beat_wav, ChopParams(chops=5, mode="beats", beats=2, root_note=48), name="Loop Kit.wav")
    with zipfile.ZipFile(io.BytesIO(zip_bytes(record))) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(files["chops.json"])
    chops = document["chops"]
    assert [chop["note"] for chop in chops] == list(range(48, 48 + len(chops)))
    regions = _parse_sfz(files["loop-kit.sfz"].decode())
    assert [region["sample"] for region in regions] == [chop["file"] for chop in chops]
    assert [int(region["pitch_keycenter"]) for region in regions] == [chop["note"] for chop in chops]
    for region, chop in zip(regions, chops, strict=True):
        frames = sf.info(io.BytesIO(files[chop["file"]])).frames
        assert region["loop_mode"] == "loop_continuous" and region["loop_end"] == str(frames - 1)
    program = ET.fromstring(files["loop-kit.xpm"]).find("Program")
    instruments = program.findall("Instruments/Instrument")
    names = [instrument.find("Layers/Layer/SampleName").text for instrument in instruments[: len(chops)]]
    assert [f"{name}.wav" for name in names] == [chop["file"] for chop in chops]
    midi = _parse_midi(files["loop-kit.mid"])
    ((_, tempo),) = midi["meta"][0x51]
    assert 60_000_000 / int.from_bytes(tempo, "big") == pytest.approx(document["tempo_bpm"], abs=0.01)
    seconds_per_tick = int.from_bytes(tempo, "big") / 1e6 / midi["division"]
    ons = [(tick, note) for tick, is_on, note, _ in midi["notes"] if is_on]
    assert [note for _, note in ons] == [chop["note"] for chop in chops]
    for (tick, _), chop in zip(ons, chops, strict=True):
        assert abs(tick * seconds_per_tick - chop["start"]) <= seconds_per_tick
    for chop in chops:  # the WAV knows its note, loop and tempo
        chunks = _wav_chunks(files[chop["file"]])
        assert struct.unpack("<I", chunks[b"smpl"][12:16])[0] == chop["note"]
        assert struct.unpack("<f", chunks[b"acid"][20:24])[0] == pytest.approx(chop["tempo_bpm"], rel=1e-5)


def test_the_record_and_each_chop_have_a_key(chopper, tmp_path: Path) -> None:
    from tests.test_key import progression

    path = tmp_path / "c-major.wav"
    sf.write(path, progression("C", "I-IV-V-I", repeats=3), 22_050)
    record = chopper.chop(path, ChopParams(points=(0.0, 6.0, 12.0)))
    document = record.result.to_dict()
    assert (document["key"]["tonic"], document["key"]["mode"]) == ("C", "major")
    assert document["key"]["method"] and document["key"]["confidence"] > 0
    for chop in document["chops"]:  # each chop holds the whole progression once: its own key is the same
        assert (chop["key"]["tonic"], chop["key"]["mode"]) == ("C", "major")
