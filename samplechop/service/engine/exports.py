"""Sampler exports of a chopped record: file names, an SFZ instrument, an MPC drum program and a MIDI file.

Every builder is a pure function returning bytes; nothing here reads audio or writes files. The chops are given
as :class:`ExportChop` (one per slice, in time order, pad 1 first), made by :func:`export_chops`.

- **Names**: :func:`record_slug` turns a record's file name into a safe lowercase slug (``Kevin_MacLeod_-_Vibe_Ace.ogg``
  → ``kevin-macleod-vibe-ace``); slices are ``<slug>_01.wav`` …, programs ``<slug>.sfz``/``.xpm``/``.mid``.
- **Notes**: chop *i* (1-based, time order) plays on MIDI note ``root_note + i − 1``; the default root 36 is C1 in
  the C3 = 60 convention of most DAWs and samplers (C2 in Yamaha's), the first pad of General MIDI drum maps.
- **SFZ** (sfzformat.com, SFZ v1 opcodes only): one ``<region>`` per chop with ``sample`` (relative path, ``/``
  separators), ``lokey``/``hikey``/``pitch_keycenter`` on its note; loop chops ``loop_mode=loop_continuous`` over
  the whole sample, the others ``loop_mode=one_shot``.
- **MPC drum program** (``.xpm``, the XML of the MPC 2.x/3.x software and standalone MPCs): the structure
  ConvertWithMoss writes and reads (github.com/git-moss/ConvertWithMoss, ``format/akai/mpc``): ``MPCVObject`` →
  ``Version`` (File_Version 2.1) and ``Program type="Drum"`` → ``ProgramName``, ``Instruments`` (128, numbered 1–128,
  instrument *n* is pad *n*), each with four ``Layer``s (layer 1 holds the chop: ``SampleName`` is the WAV's name
  without ``.wav``, found beside the ``.xpm``), and ``PadNoteMap`` (pad *n* → its MIDI note). The MPC resolves
  samples by name in the program's folder, so the ``.xpm`` must sit beside the slices.
- **MIDI** (Standard MIDI File 1.0, format 0 or 1, 480 ticks per quarter): the record's tempo as a Set Tempo meta
  event, its meter as Time Signature, its key as Key Signature when known, and one note per chop at its original
  time, lasting the slice, on the chop's note: played into the SFZ or the MPC program it replays the chops in
  their original timing.
"""

from __future__ import annotations

import json
import re
import struct
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from samplechop.service.engine.key import Key

DEFAULT_ROOT_NOTE = 36
# Slugs are bounded so "<slug>_128.wav" stays far below any file system's 255-byte name limit and readable on
# a sampler's screen.
MAX_SLUG_CHARS = 48
FALLBACK_SLUG = "record"
MIDI_TICKS_PER_QUARTER = 480
MIDI_VELOCITY = 100
DEFAULT_TEMPO_BPM = 120.0  # the Standard MIDI File's own default when a record has no tempo
MPC_PADS = 128
MPC_LAYERS = 4
# Layer volume 0 dB on the MPC's 0..1 scale (−12 dB at 0.353, +6 dB at 1.0, linear in dB: ConvertWithMoss).
MPC_UNITY_VOLUME = 0.353 + (1.0 - 0.353) * 12.0 / 18.0
_SLUG_SEPARATORS = re.compile(r"[^a-z0-9]+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


# --- names -----------------------------------------------------------------------------------------------------


def record_slug(name: str, *, max_chars: int = MAX_SLUG_CHARS) -> str:
    """A safe lowercase slug of a record's (file) name: ASCII letters and digits joined by single ``-``.

    Any directory part (``/`` or ``\\``) and one file extension are dropped, accents are folded to ASCII, every
    other run of characters becomes one ``-``; at most ``max_chars`` long, never empty (``record`` stands in), so
    it can never name a path outside a folder, a hidden file or ``.``/``..``.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    base = re.split(r"[/\\]", str(name))[-1]
    base = _EXTENSION.sub("", base) or base
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii").lower()
    slug = _SLUG_SEPARATORS.sub("-", ascii_name).strip("-")
    slug = slug[:max_chars].rstrip("-")
    return slug or FALLBACK_SLUG


def slice_file_name(slug: str, index: int, *, extension: str = "wav") -> str:
    """``<slug>_<index>.<extension>``, the index at least two digits (``vibe-ace_01.wav``)."""
    if index < 1:
        raise ValueError(f"chop indices start at 1, got {index}")
    if slug != record_slug(slug, max_chars=max(len(slug), 1)):
        raise ValueError(f"not a slug: {slug!r} (make one with record_slug)")
    return f"{slug}_{index:02d}.{extension}"


def pad_note(index: int, *, root_note: int = DEFAULT_ROOT_NOTE) -> int:
    """The MIDI note of chop ``index`` (1-based): ``root_note + index − 1``; ValueError past note 127."""
    note = root_note + index - 1
    if index < 1 or not 0 <= note <= 127:
        raise ValueError(f"chop {index} from root note {root_note} would be MIDI note {note}, outside 0..127")
    return note


@dataclass(frozen=True)
class ExportChop:
    """One slice as the sampler exports see it: its pad ``index`` (1-based, time order), its WAV's ``file``
    (relative, ``/`` separators), where it came from in the record, its length, MIDI ``note``, and whether the
    whole slice loops."""

    index: int
    file: str
    start_s: float
    end_s: float
    length_samples: int
    note: int
    loop: bool

    def __post_init__(self) -> None:
        path = PurePosixPath(self.file)
        if not self.file or path.is_absolute() or ".." in path.parts or "\\" in self.file or "\n" in self.file:
            raise ValueError(f"a slice's file must be a relative path inside the export, got {self.file!r}")
        if not 0 <= self.note <= 127:
            raise ValueError(f"note must be a MIDI note 0..127, got {self.note}")
        if self.length_samples < 1 or self.end_s < self.start_s:
            raise ValueError(f"chop {self.index} is empty or ends before it starts")


def export_chops(
    slug: str,
    spans_samples: Sequence[tuple[int, int]],
    *,
    sample_rate_hz: int,
    loops: Sequence[bool] | None = None,
    root_note: int = DEFAULT_ROOT_NOTE,
    folder: str = "",
) -> list[ExportChop]:
    """The :class:`ExportChop` of each span ``(start, end)`` in samples, in time order, named ``<slug>_NN.wav``
    (under ``folder`` when given)."""
    flags = [False] * len(spans_samples) if loops is None else list(loops)
    if len(flags) != len(spans_samples):
        raise ValueError("loops must hold one flag per span")
    prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
    chops = []
    for index, ((start, end), loop) in enumerate(zip(spans_samples, flags, strict=True), start=1):
        chops.append(
            ExportChop(
                index=index,
                file=prefix + slice_file_name(slug, index),
                start_s=start / sample_rate_hz,
                end_s=end / sample_rate_hz,
                length_samples=end - start,
                note=pad_note(index, root_note=root_note),
                loop=bool(loop),
            )
        )
    return chops


# --- SFZ -------------------------------------------------------------------------------------------------------


def sfz_bytes(
    chops: Sequence[ExportChop],
    *,
    title: str,
    tempo_bpm: float | None = None,
    beats_per_bar: int | None = None,
    key: Key | None = None,
) -> bytes:
    """An SFZ instrument: one region per chop on its note, sample paths relative to the ``.sfz`` file."""
    about = [f"// {_one_line(title)} — chopped by sampleChop: {len(chops)} chops"]
    if tempo_bpm:
        meter = f", {beats_per_bar}/4" if beats_per_bar else ""
        about.append(f"// tempo {tempo_bpm:.2f} BPM{meter}")
    if key is not None:
        about.append(f"// key {key.name} (confidence {key.confidence:.2f})")
    lines = [*about, "", "<control>", "", "<global>", "amp_veltrack=0", ""]
    for chop in chops:
        lines.append(f"// pad {chop.index}: {chop.start_s:.3f}–{chop.end_s:.3f} s of the record")
        lines.append("<region>")
        lines.append(f"sample={chop.file}")
        lines.append(f"lokey={chop.note} hikey={chop.note} pitch_keycenter={chop.note}")
        if chop.loop:
            lines.append(f"loop_mode=loop_continuous loop_start=0 loop_end={chop.length_samples - 1}")
        else:
            lines.append("loop_mode=one_shot")
        lines.append("")
    return "\n".join(lines).encode("utf-8")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --- MPC drum program -------------------------------------------------------------------------------------------


def xpm_bytes(chops: Sequence[ExportChop], *, program_name: str) -> bytes:
    """An MPC drum program (``.xpm``) with chop *i* on pad *i* (A01…, 16 pads a bank, 128 at most)."""
    if len(chops) > MPC_PADS:
        raise ValueError(f"an MPC drum program has {MPC_PADS} pads; got {len(chops)} chops")
    if any("/" in chop.file for chop in chops):
        raise ValueError("the MPC finds samples by name beside the program: put the .xpm in the slices' folder")
    by_pad = {chop.index: chop for chop in chops}
    notes = _pad_notes(chops)
    root = ET.Element("MPCVObject")
    version = ET.SubElement(root, "Version")
    for tag, text in (
        ("File_Version", "2.1"),
        ("Application", "MPC-V"),
        ("Application_Version", "2.11.6.6"),
        ("Platform", "Linux"),
    ):
        ET.SubElement(version, tag).text = text
    program = ET.SubElement(root, "Program", {"type": "Drum"})
    ET.SubElement(program, "ProgramName").text = _one_line(program_name)[:64] or "sampleChop"
    pads_settings = {"ProgramPads": {"Universal": {"value0": False}, "Type": {"value0": 5}, "universalPad": 32512}}
    ET.SubElement(program, "ProgramPads-v2.10").text = json.dumps(pads_settings, separators=(",", ":"))
    instruments = ET.SubElement(program, "Instruments")
    for pad in range(1, MPC_PADS + 1):
        _instrument(instruments, pad, by_pad.get(pad))
    pad_map = ET.SubElement(program, "PadNoteMap")
    for pad in range(1, MPC_PADS + 1):
        entry = ET.SubElement(pad_map, "PadNote", {"number": str(pad)})
        ET.SubElement(entry, "Note").text = str(notes[pad])
    ET.indent(root, space="  ")
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def _pad_notes(chops: Sequence[ExportChop]) -> dict[int, int]:
    """Pad → MIDI note for all 128 pads: each chop's own note on its pad, the other pads the notes left over in
    order (a note may drive only one pad)."""
    notes = {chop.index: chop.note for chop in chops}
    if len(set(notes.values())) != len(notes) or any(not 1 <= pad <= MPC_PADS for pad in notes):
        raise ValueError("each chop needs its own pad (1..128) and its own note")
    free = (note for note in range(128) if note not in set(notes.values()))
    return {pad: notes[pad] if pad in notes else next(free) for pad in range(1, MPC_PADS + 1)}


def _instrument(parent: ET.Element, pad: int, chop: ExportChop | None) -> None:
    instrument = ET.SubElement(parent, "Instrument", {"number": str(pad)})
    for tag, text in (
        ("Volume", f"{MPC_UNITY_VOLUME:.6f}"),
        ("Pan", "0.500000"),
        ("MuteGroup", "0"),
        # One-shot: a tap on the pad plays the whole slice (a loop slice plays its bars once, in time).
        ("OneShot", "True"),
        ("TriggerMode", "0"),
    ):
        ET.SubElement(instrument, tag).text = text
    layers = ET.SubElement(instrument, "Layers")
    for number in range(1, MPC_LAYERS + 1):
        layer = ET.SubElement(layers, "Layer", {"number": str(number)})
        if number > 1 or chop is None:  # an empty layer: off, no sample (kept short: 128 × 4 of them)
            for tag, text in (("Active", "False"), ("VelStart", "0"), ("VelEnd", "0"), ("SampleName", "")):
                ET.SubElement(layer, tag).text = text
            continue
        for tag, text in (
            ("Active", "True"),
            ("Volume", f"{MPC_UNITY_VOLUME:.6f}"),
            ("Pan", "0.500000"),
            ("Pitch", "0.000000"),
            ("TuneCoarse", "0"),
            ("TuneFine", "0"),
            ("VelStart", "0"),
            ("VelEnd", "127"),
            ("RootNote", str(chop.note + 1)),  # the MPC counts root notes from 1 (ConvertWithMoss)
            ("KeyTrack", "False"),
            ("SampleName", PurePosixPath(chop.file).stem),
            ("SampleFile", ""),
            ("SliceIndex", "129"),
            ("Direction", "0"),
            ("Offset", "0"),
            ("SliceStart", "0"),
            ("SliceEnd", str(chop.length_samples)),  # frames
            ("SliceLoopStart", "0"),
            ("SliceLoop", "0"),
        ):
            ET.SubElement(layer, tag).text = text


# --- MIDI -------------------------------------------------------------------------------------------------------


def _vlq(value: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits a byte, most significant first, high bit set on all but the last."""
    if value < 0:
        raise ValueError("a variable-length quantity is non-negative")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta(kind: int, data: bytes) -> bytes:
    return bytes([0xFF, kind]) + _vlq(len(data)) + data


def _track(events: list[tuple[int, int, bytes]]) -> bytes:
    """An ``MTrk`` chunk from (tick, order, event bytes), sorted by tick then order, ending with End of Track."""
    body = bytearray()
    now = 0
    for tick, _, event in sorted(events, key=lambda item: (item[0], item[1])):
        body += _vlq(tick - now) + event
        now = tick
    body += _vlq(0) + _meta(0x2F, b"")
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def key_signature(key: Key) -> tuple[int, int]:
    """(sharps (+) or flats (−), 0 major / 1 minor) of a key, as the Key Signature meta event wants them;
    the spelling with fewer accidentals (F# major: 6 sharps; C# major: 5 flats, as D♭)."""
    major_tonic = key.tonic_pitch_class if key.mode == "major" else (key.tonic_pitch_class + 3) % 12
    fifths = (major_tonic * 7) % 12  # steps round the circle of fifths from C
    return (fifths - 12 if fifths > 6 else fifths), (0 if key.mode == "major" else 1)


def midi_bytes(
    chops: Sequence[ExportChop],
    *,
    tempo_bpm: float | None,
    beats_per_bar: int | None = None,
    key: Key | None = None,
    track_name: str = "sampleChop",
    smf_format: int = 0,
    ticks_per_quarter: int = MIDI_TICKS_PER_QUARTER,
    channel: int = 0,
    velocity: int = MIDI_VELOCITY,
) -> bytes:
    """A Standard MIDI File that replays the chops at their original times at the record's tempo.

    Times are converted at the single tempo written (``tempo_bpm``, 120 when unknown), so a note lands within
    half a tick (0.5 ms at 120 BPM) of its chop. Format 0: one track; format 1: a tempo track and a note track.
    """
    if smf_format not in (0, 1):
        raise ValueError(f"smf_format must be 0 or 1, got {smf_format}")
    if not 0 <= channel <= 15 or not 1 <= velocity <= 127 or not 24 <= ticks_per_quarter <= 0x7FFF:
        raise ValueError("channel must be 0..15, velocity 1..127 and ticks_per_quarter 24..32767")
    bpm = tempo_bpm if tempo_bpm and tempo_bpm > 0 else DEFAULT_TEMPO_BPM
    microseconds_per_quarter = min(0xFFFFFF, max(1, round(60_000_000 / bpm)))
    ticks_per_s = ticks_per_quarter * 1_000_000 / microseconds_per_quarter  # exactly the tempo written

    meta: list[tuple[int, int, bytes]] = [
        (0, 0, _meta(0x03, _one_line(track_name).encode("utf-8")[:127])),
        (0, 1, _meta(0x51, microseconds_per_quarter.to_bytes(3, "big"))),
    ]
    if beats_per_bar and 1 <= beats_per_bar <= 255:
        # numerator, denominator as a power of 2 (quarter = 2), 24 MIDI clocks a click, 8 32nds a quarter
        meta.append((0, 2, _meta(0x58, bytes([beats_per_bar, 2, 24, 8]))))
    if key is not None:
        sharps, minor = key_signature(key)
        meta.append((0, 3, _meta(0x59, struct.pack(">bB", sharps, minor))))
    notes: list[tuple[int, int, bytes]] = []
    for chop in chops:
        on = round(chop.start_s * ticks_per_s)
        off = max(on + 1, round(chop.end_s * ticks_per_s))
        # order: at one tick, note-offs (0) before note-ons (1), so a repeated note is not cut by its own end
        notes.append((on, 1, bytes([0x90 | channel, chop.note, velocity])))
        notes.append((off, 0, bytes([0x80 | channel, chop.note, 0])))
    if smf_format == 0:
        tracks = [_track(meta + [(tick, order + 10, event) for tick, order, event in notes])]
    else:
        tracks = [_track(meta), _track([(0, 0, _meta(0x03, b"chops")), *[(t, o + 10, e) for t, o, e in notes]])]
    header = b"MThd" + struct.pack(">IHHH", 6, smf_format, len(tracks), ticks_per_quarter)
    return header + b"".join(tracks)


# --- all at once ------------------------------------------------------------------------------------------------

# The sampler programs by ``export`` choice (samplechop.service.parameters.EXPORTS) and their file suffixes.
EXPORT_SUFFIXES = {"sfz": ".sfz", "xpm": ".xpm", "midi": ".mid"}


def program_names(slug: str, export: str) -> list[str]:
    """The file names of the sampler programs an ``export`` choice writes beside the slices, in the order they are
    written: all of them for ``zip``."""
    kinds = tuple(EXPORT_SUFFIXES) if export == "zip" else (export,)
    return [f"{slug}{EXPORT_SUFFIXES[kind]}" for kind in kinds]


def sampler_files(
    slug: str,
    chops: Sequence[ExportChop],
    *,
    tempo_bpm: float | None,
    beats_per_bar: int | None = None,
    key: Key | None = None,
    title: str | None = None,
) -> dict[str, bytes]:
    """``{<slug>.sfz, <slug>.xpm, <slug>.mid}`` for chops whose WAVs sit beside them (``folder=""``)."""
    name = title or slug
    return {
        f"{slug}.sfz": sfz_bytes(chops, title=name, tempo_bpm=tempo_bpm, beats_per_bar=beats_per_bar, key=key),
        f"{slug}.xpm": xpm_bytes(chops, program_name=name),
        f"{slug}.mid": midi_bytes(chops, tempo_bpm=tempo_bpm, beats_per_bar=beats_per_bar, key=key, track_name=name),
    }


__all__ = [
    "DEFAULT_ROOT_NOTE",
    "EXPORT_SUFFIXES",
    "ExportChop",
    "export_chops",
    "key_signature",
    "midi_bytes",
    "pad_note",
    "program_names",
    "record_slug",
    "sampler_files",
    "sfz_bytes",
    "slice_file_name",
    "xpm_bytes",
]
