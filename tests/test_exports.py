"""Sampler exports parse back and point at the right files: names, SFZ, MPC .xpm, MIDI, and WAVs with `smpl`."""

from __future__ import annotations

import io
import random
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplechop.service.engine.bars import BarGrid
from samplechop.service.engine.exports import (
    ExportChop,
    export_chops,
    key_signature,
    midi_bytes,
    pad_note,
    record_slug,
    sampler_files,
    sfz_bytes,
    slice_file_name,
    xpm_bytes,
)
from samplechop.service.engine.key import Key
from samplechop.service.engine.slices import SamplerInfo, clean_slice_wav_bytes, riff_chunks
from samplechop.service.engine.slicing import slice_spans
from tests.synth import beat_record

BPM = 96.0
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


# --- names -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Vibe_Ace.ogg", "vibe-ace"),
        ("Kevin_MacLeod_-_Vibe_Ace.hq.ogg", "kevin-macleod-vibe-ace-hq"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\Déjà Vu (Remix).FLAC", "deja-vu-remix"),
        ("...wav", "record"),
        ("..", "record"),
        ("", "record"),
        ("/", "record"),
        ("ローファイ.mp3", "record"),
        ("x" * 300 + ".wav", "x" * 48),
    ],
)
def test_record_slug(name: str, slug: str) -> None:
    assert record_slug(name) == slug


def test_slugs_never_escape_a_folder(tmp_path: Path) -> None:
    rng = random.Random(0)
    alphabet = "aZ9._-/\\ :*?\"'<>|\n\t\x00éü€中…"
    for _ in range(2000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        slug = record_slug(name)
        assert SLUG.match(slug) and len(slug) <= 48, (name, slug)
        for file_name in (slice_file_name(slug, 1), f"{slug}.sfz"):
            target = (tmp_path / file_name).resolve()
            assert target.parent == tmp_path.resolve(), (name, file_name)


def test_file_names_and_notes() -> None:
    assert slice_file_name("vibe-ace", 1) == "vibe-ace_01.wav"
    assert slice_file_name("vibe-ace", 123) == "vibe-ace_123.wav"
    with pytest.raises(ValueError, match="not a slug"):
        slice_file_name("../x", 1)
    assert [pad_note(i) for i in (1, 2, 16)] == [36, 37, 51]
    assert pad_note(1, root_note=60) == 60
    with pytest.raises(ValueError, match=r"outside 0\.\.127"):
        pad_note(100)
    with pytest.raises(ValueError, match="relative path inside the export"):
        ExportChop(index=1, file="../up.wav", start_s=0.0, end_s=1.0, length_samples=10, note=36, loop=False)


# --- a chopped synthetic record, exported ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ExportChop], list]:
    """Six chops of a 96-BPM groove: the first three as 1-bar loops, written as WAVs into a folder."""
    record = beat_record(16.0, bpm=BPM, seed=3)
    rate = record.sample_rate
    grid = BarGrid(record.beats_s, np.arange(record.beats_s.size) % 4 + 1, 4, BPM)
    total = record.audio.shape[0]
    loops = slice_spans(
        record.downbeats_s[:3], record.audio, total_samples=total, sample_rate_hz=rate, grid=grid, mode="bars", bars=1
    )
    hits = slice_spans(
        record.beats_s[13:16], record.audio, total_samples=total, sample_rate_hz=rate, grid=grid, mode="one-shot"
    )
    spans = [*loops, *hits]
    slug = record_slug("Groove Test.wav")
    chops = export_chops(
        slug,
        [(span.start_sample, span.end_sample) for span in spans],
        sample_rate_hz=rate,
        loops=[span.loop for span in spans],
    )
    folder = tmp_path_factory.mktemp("export")
    for chop, span in zip(chops, spans, strict=True):
        info = SamplerInfo(
            unity_note=chop.note, loop=span.loop, tempo_bpm=span.tempo_bpm, beats=span.length_beats, beats_per_bar=4
        )
        data = clean_slice_wav_bytes(
            record.audio,
            span.start_sample,
            span.end_sample,
            sample_rate_hz=rate,
            channels=2,
            bit_depth=16,
            loop=span.loop,
            sampler=info,
        )
        (folder / chop.file).write_bytes(data)
    key = Key(tonic="A", mode="minor", confidence=0.12, correlation=0.6)
    for name, data in sampler_files(slug, chops, tempo_bpm=BPM, beats_per_bar=4, key=key).items():
        (folder / name).write_bytes(data)
    return folder, chops, spans


def _parse_sfz(text: str) -> list[dict[str, str]]:
    """The opcodes of each <region> (comments dropped; `sample=` runs to the end of its line)."""
    regions: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if line.startswith("<"):
            current = {} if line == "<region>" else None
            if current is not None:
                regions.append(current)
            continue
        if current is None:
            continue
        if line.startswith("sample="):
            current["sample"] = line[len("sample=") :]
            continue
        for pair in line.split():
            key, value = pair.split("=", 1)
            current[key] = value
    return regions


def test_the_export_is_named_after_the_record(exported) -> None:
    folder, _, _ = exported
    names = sorted(path.name for path in folder.iterdir())
    assert names == sorted(
        [*(f"groove-test_{i:02d}.wav" for i in range(1, 7)), "groove-test.sfz", "groove-test.xpm", "groove-test.mid"]
    )


def test_sfz_regions_point_at_the_slices(exported) -> None:
    folder, chops, spans = exported
    regions = _parse_sfz((folder / "groove-test.sfz").read_text())
    assert len(regions) == len(chops)
    for number, (region, span) in enumerate(zip(regions, spans, strict=True)):
        note = 36 + number
        assert (region["lokey"], region["hikey"], region["pitch_keycenter"]) == (str(note),) * 3
        sample = folder / region["sample"]
        assert sample.is_file() and sample.parent == folder
        frames = sf.info(sample).frames
        assert frames == span.length_samples
        if span.loop:
            assert region["loop_mode"] == "loop_continuous"
            assert (region["loop_start"], region["loop_end"]) == ("0", str(frames - 1))
        else:
            assert region["loop_mode"] == "one_shot" and "loop_end" not in region


def test_sfz_paths_are_relative_in_a_subfolder() -> None:
    chops = export_chops("beat", [(0, 100), (100, 300)], sample_rate_hz=44_100, folder="samples")
    regions = _parse_sfz(sfz_bytes(chops, title="beat").decode())
    assert [region["sample"] for region in regions] == ["samples/beat_01.wav", "samples/beat_02.wav"]


def test_mpc_program_maps_chops_to_pads(exported) -> None:
    folder, chops, spans = exported
    root = ET.fromstring((folder / "groove-test.xpm").read_bytes())
    assert root.tag == "MPCVObject" and root.find("Version/File_Version").text == "2.1"
    program = root.find("Program")
    assert program.get("type") == "Drum" and program.find("ProgramName").text == "groove-test"
    instruments = program.findall("Instruments/Instrument")
    assert [int(i.get("number")) for i in instruments] == list(range(1, 129))
    pad_notes = {int(p.get("number")): int(p.find("Note").text) for p in program.findall("PadNoteMap/PadNote")}
    assert sorted(pad_notes) == list(range(1, 129))
    assert len(set(pad_notes.values())) == 128  # one pad per note
    for chop, span in zip(chops, spans, strict=True):
        instrument = instruments[chop.index - 1]
        layers = instrument.findall("Layers/Layer")
        assert [layer.get("number") for layer in layers] == ["1", "2", "3", "4"]
        name = layers[0].find("SampleName").text
        assert (folder / f"{name}.wav").is_file() and f"{name}.wav" == chop.file
        assert int(layers[0].find("SliceEnd").text) == span.length_samples
        assert pad_notes[chop.index] == chop.note == 35 + chop.index
    empty = instruments[len(chops)].find("Layers/Layer/SampleName").text
    assert not empty  # pads past the chops hold no sample
    with pytest.raises(ValueError, match="128 pads"):
        xpm_bytes(_many(129), program_name="x")


def _many(count: int) -> list[ExportChop]:
    return [
        ExportChop(index=i, file=f"x_{i:02d}.wav", start_s=0.0, end_s=0.1, length_samples=10, note=i % 128, loop=False)
        for i in range(1, count + 1)
    ]


# --- MIDI: a tiny Standard MIDI File reader ---------------------------------------------------------------------


def _read_vlq(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[offset]
        offset += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, offset


def _parse_midi(data: bytes) -> dict:
    """Header, tempo (µs a quarter), time and key signatures, and (tick, on/off, note, velocity) of every note."""
    assert data[:4] == b"MThd"
    length, smf_format, track_count, division = struct.unpack(">IHHH", data[4:14])
    assert length == 6
    offset = 14
    result: dict = {"format": smf_format, "tracks": track_count, "division": division, "notes": [], "meta": {}}
    for _ in range(track_count):
        assert data[offset : offset + 4] == b"MTrk"
        (size,) = struct.unpack(">I", data[offset + 4 : offset + 8])
        position, end = offset + 8, offset + 8 + size
        tick, running = 0, None
        while position < end:
            delta, position = _read_vlq(data, position)
            tick += delta
            status = data[position]
            if status == 0xFF:
                kind = data[position + 1]
                meta_length, position = _read_vlq(data, position + 2)
                result["meta"].setdefault(kind, []).append((tick, data[position : position + meta_length]))
                position += meta_length
                continue
            if status & 0x80:
                running = status
                position += 1
            note, velocity = data[position], data[position + 1]
            position += 2
            is_on = running & 0xF0 == 0x90 and velocity > 0
            result["notes"].append((tick, is_on, note, velocity))
        assert position == end and result["meta"][0x2F][-1][0] == tick  # ends with End of Track
        offset = end
    return result


@pytest.mark.parametrize("smf_format", [0, 1])
def test_midi_replays_the_chops_at_the_records_tempo(exported, smf_format: int) -> None:
    _, chops, _ = exported
    key = Key(tonic="F#", mode="major", confidence=0.2, correlation=0.7)
    data = midi_bytes(chops, tempo_bpm=BPM, beats_per_bar=4, key=key, smf_format=smf_format)
    midi = _parse_midi(data)
    assert (midi["format"], midi["tracks"], midi["division"]) == (smf_format, smf_format + 1, 480)
    ((_, tempo),) = midi["meta"][0x51]
    microseconds = int.from_bytes(tempo, "big")
    assert microseconds == round(60_000_000 / BPM)
    assert midi["meta"][0x58][0][1][:2] == bytes([4, 2])  # 4/4
    assert struct.unpack(">bB", midi["meta"][0x59][0][1]) == (6, 0)  # F# major: six sharps
    seconds_per_tick = microseconds / 1e6 / 480
    ons = [(tick, note) for tick, is_on, note, _ in midi["notes"] if is_on]
    offs = [(tick, note) for tick, is_on, note, _ in midi["notes"] if not is_on]
    assert [note for _, note in ons] == [chop.note for chop in chops]
    for (on, _), (off, _), chop in zip(ons, sorted(offs, key=lambda item: item[1]), chops, strict=True):
        assert abs(on * seconds_per_tick - chop.start_s) <= seconds_per_tick / 2
        assert abs(off * seconds_per_tick - chop.end_s) <= seconds_per_tick / 2


def test_midi_agrees_with_mido(exported) -> None:
    mido = pytest.importorskip("mido")  # installed with the trainer extras; the export itself needs nothing
    _, chops, _ = exported
    parsed = mido.MidiFile(file=io.BytesIO(midi_bytes(chops, tempo_bpm=BPM, beats_per_bar=4, smf_format=1)))
    tempos = [message.tempo for track in parsed.tracks for message in track if message.type == "set_tempo"]
    assert tempos == [round(60_000_000 / BPM)]
    starts_s, now = [], 0.0
    for message in parsed:  # iterating a MidiFile yields messages with delta times in seconds
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            starts_s.append(now)
    np.testing.assert_allclose(starts_s, [chop.start_s for chop in chops], atol=0.6 / 480)


def test_midi_without_a_tempo_and_bad_options() -> None:
    chops = export_chops("x", [(44_100, 88_200)], sample_rate_hz=44_100)
    midi = _parse_midi(midi_bytes(chops, tempo_bpm=None))
    assert int.from_bytes(midi["meta"][0x51][0][1], "big") == 500_000  # 120 BPM, the MIDI default
    assert midi["notes"][0][0] == 960  # 1 s at 120 BPM
    with pytest.raises(ValueError, match="smf_format must be 0 or 1"):
        midi_bytes(chops, tempo_bpm=100.0, smf_format=2)


@pytest.mark.parametrize(
    ("tonic", "mode", "signature"),
    [("C", "major", (0, 0)), ("A", "minor", (0, 1)), ("F#", "major", (6, 0)), ("C#", "major", (-5, 0)),
     ("D#", "minor", (6, 1)), ("F", "major", (-1, 0)), ("G", "minor", (-2, 1))],
)  # fmt: skip
def test_key_signature(tonic: str, mode: str, signature: tuple[int, int]) -> None:
    assert key_signature(Key(tonic=tonic, mode=mode, confidence=0.0, correlation=0.0)) == signature


# --- WAVs: `smpl` and `acid` carry the note, loop and tempo -----------------------------------------------------


def test_wav_slices_carry_note_loop_and_tempo(exported) -> None:
    folder, chops, spans = exported
    for chop, span in zip(chops, spans, strict=True):
        data = (folder / chop.file).read_bytes()
        chunks = {identifier: (offset, size) for identifier, offset, size in riff_chunks(data)}
        offset, _ = chunks[b"smpl"]
        header = struct.unpack("<9I", data[offset : offset + 36])
        assert header[3] == chop.note and header[7] == (1 if span.loop else 0)
        if span.loop:
            loop = struct.unpack("<6I", data[offset + 36 : offset + 60])
            assert (loop[2], loop[3]) == (0, span.length_samples - 1)
        offset, size = chunks[b"acid"]
        flags, root, _, _, beats, _, numerator, tempo = struct.unpack("<IHHfIHHf", data[offset : offset + size])
        assert root == chop.note and tempo == pytest.approx(BPM, rel=1e-4)
        assert bool(flags & 0x01) is not span.loop  # one-shot flag on the hits only
        if span.loop:
            assert (beats, numerator) == (4, 4)
