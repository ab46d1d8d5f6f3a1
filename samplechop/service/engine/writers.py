"""The files of a chopped record, as a producer loads them: the WAV slices, the sampler programs and
``chops.json``, yielded one at a time, packed as a zip or written into a folder.

The chopping itself (:mod:`samplechop.service.engine.pipeline`) decides where the slices are; everything here
only renders a :class:`ChoppedRecord` and knows nothing about HTTP or the command line.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from samplechop.service.engine.exports import export_chops, program_names, sampler_files
from samplechop.service.engine.result import ChoppedRecord
from samplechop.service.engine.slices import EdgeOptions, SamplerInfo, clean_slice_wav_bytes


def slice_files(record: ChoppedRecord, bit_depth: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(file name, WAV bytes) of every chop, in time order, at the record's own rate and channels: clean edges
    (DC removed, short fades, the loop crossfade on loop slices) and ``smpl``/``acid`` chunks (the pad's note, the
    loop over the whole slice, the tempo)."""
    depth = bit_depth or record.params.bit_depth
    audio = record.audio
    edges = EdgeOptions(loop_crossfade_s=record.params.loop_crossfade_s)
    for chop in record.result.chops:
        sampler = SamplerInfo(
            unity_note=chop.note,
            loop=chop.loop,
            tempo_bpm=chop.tempo_bpm,
            beats=chop.length_beats,
            beats_per_bar=record.result.beats_per_bar,
        )
        data = clean_slice_wav_bytes(
            audio,
            chop.start_sample,
            chop.end_sample,
            sample_rate_hz=audio.original_rate,
            channels=audio.channels,
            bit_depth=depth,
            loop=chop.loop,
            edges=edges,
            sampler=sampler,
        )
        yield chop.file, data


def program_files(record: ChoppedRecord) -> dict[str, bytes]:
    """The sampler programs the ``export`` choice asks for, by file name: an SFZ instrument, an MPC drum program
    and a MIDI file that replays the chops in their original timing, each pointing at the slices beside it."""
    result = record.result
    if not result.chops:
        return {}
    exported = export_chops(
        result.slug,
        [(chop.start_sample, chop.end_sample) for chop in result.chops],
        sample_rate_hz=result.sample_rate,
        loops=[chop.loop for chop in result.chops],
        root_note=result.chops[0].note,
    )
    programs = sampler_files(
        result.slug, exported, tempo_bpm=result.tempo_bpm, beats_per_bar=result.beats_per_bar, key=result.key
    )
    wanted = set(program_names(result.slug, record.params.export))
    return {name: data for name, data in programs.items() if name in wanted}


def record_files(record: ChoppedRecord, extra: dict[str, object] | None = None) -> Iterator[tuple[str, bytes]]:
    """Every file of a chopped record, as the zip and ``--out`` hold them: the WAV slices, the sampler programs,
    then ``chops.json``."""
    yield from slice_files(record)
    yield from program_files(record).items()
    yield "chops.json", result_json(record, extra).encode()


def result_document(record: ChoppedRecord, extra: dict[str, object] | None = None) -> dict[str, Any]:
    """The result document (``ChopResult.to_dict``) with ``extra`` keys added at its top level: a new dict."""
    document = record.result.to_dict()
    if extra:
        document.update(extra)
    return document


def result_json(record: ChoppedRecord, extra: dict[str, object] | None = None) -> str:
    """``chops.json``: the result document as indented JSON."""
    return json.dumps(result_document(record, extra), indent=2)


def write_zip(record: ChoppedRecord, target: IO[bytes], extra: dict[str, object] | None = None) -> None:
    """Write the slices, the sampler programs and ``chops.json`` as a zip archive to an open binary file."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in record_files(record, extra):
            archive.writestr(name, data)


def zip_bytes(record: ChoppedRecord, extra: dict[str, object] | None = None) -> bytes:
    """The zip of :func:`write_zip`, in memory."""
    buffer = io.BytesIO()
    write_zip(record, buffer, extra)
    return buffer.getvalue()


def zip_name(record: ChoppedRecord) -> str:
    """The zip's file name: the record's (``vibe-ace.zip``)."""
    return f"{record.result.slug}.zip"


def write_slices(record: ChoppedRecord, out_dir: Path) -> list[Path]:
    """Write the record's files (slices, sampler programs, ``chops.json``) into ``out_dir``; each file appears
    whole or not at all. Names are the engine's own (a slug, ``_NN.wav``): none can leave ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, data in record_files(record):
        target = out_dir / name
        if target.parent != out_dir:  # pragma: no cover - slugs hold no separators; kept as a guard
            raise ValueError(f"refusing to write {name!r} outside {out_dir}")
        partial = target.with_name(f".{name}.partial")
        partial.write_bytes(data)
        partial.replace(target)
        written.append(target)
    return written


__all__ = [
    "ChoppedRecord",
    "program_files",
    "record_files",
    "result_document",
    "result_json",
    "slice_files",
    "write_slices",
    "write_zip",
    "zip_bytes",
    "zip_name",
]
