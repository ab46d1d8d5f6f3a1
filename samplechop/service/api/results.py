"""A stored result in compact form, and the zip a client downloads rendered from it on demand.

``POST /chop`` mostly answers JSON, and most zips are never fetched, so the store keeps what the zip is made of
rather than the zip: the result document, the sampler programs as they are, and each slice's PCM losslessly
compressed as FLAC (the WAV a slice would be is rebuilt bit for bit from it: same samples, same libsndfile header,
and the sampler chunks that follow the samples — ``smpl``, ``acid`` — kept beside it in the manifest). Measured on
16-bit stereo records: a 30-s synthetic drum loop's 5.24-MB zip is stored in 1.12 MB, a 49-s waltz's 8.47 MB in
2.77 MB; packing costs 0.06-0.10 s of CPU (encoding, then decoding once to check), rendering 0.03-0.05 s
(docs/service.md has the table).

The compact form is itself a zip (stored, not deflated: FLAC does not deflate further), so an operator can look
inside with ``unzip -l``: ``manifest.json`` first, then one member per file of the download. The download is
rendered member by member, so memory is bounded by the largest slice; its bytes do not depend on when or where
it is rendered (timestamps come from the manifest), so every replica serves the same bytes for an id.
"""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import soundfile as sf

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
# soundfile's FLAC compression level in 0…1 (libFLAC level 4 at 0.5). Measured on 30-s records: 0.5 is 10 % smaller
# than 0 for real music at +20 % encode time; 1.0 is only 5 % smaller again at 3-4 × the time.
FLAC_LEVEL = 0.5
# libsndfile's FLAC writer takes at most 8 channels and 655,350 Hz; a slice beyond those is kept as its WAV.
FLAC_MAX_CHANNELS = 8
FLAC_MAX_RATE_HZ = 655_350
FLAC_SUBTYPES = {"PCM_16": "int16", "PCM_24": "int32"}
ZIP32_LIMIT = 0xFFFFFFFF
# A download's file name goes into a Content-Disposition header as is: a record slug (samplechop.service.engine.exports:
# lowercase ASCII letters, digits and single dashes) and `.zip`, nothing a header or a file system could misread.
SAFE_DOWNLOAD_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*\.zip")
# Fixed ZIP record sizes (APPNOTE 4.3.7, 4.3.12, 4.3.16): local header, central header, end of central directory.
LOCAL_HEADER_BYTES = 30
CENTRAL_HEADER_BYTES = 46
END_RECORD_BYTES = 22


class CorruptResult(Exception):
    """A stored result does not render to what was stored (damaged in the store, or a different decoder)."""


@dataclass(frozen=True)
class Member:
    """One file of the download: its name, how it is stored, its size and CRC-32 as downloaded."""

    name: str
    stored_as: str
    codec: str  # "flac" (a WAV slice kept as FLAC) or "raw" (kept as is)
    size: int
    crc32: int
    # A WAV's chunks after its samples (the slices' `smpl` and `acid`), base64: FLAC keeps only the samples.
    tail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "name": self.name,
            "stored_as": self.stored_as,
            "codec": self.codec,
            "size": self.size,
            "crc32": self.crc32,
        }
        if self.tail is not None:
            values["tail"] = self.tail
        return values


@dataclass(frozen=True)
class Manifest:
    """What a stored result holds; ``download_name`` is the zip's file name (the record's slug), None in results
    stored before downloads were named after the record (they are served as ``samplechop-<id>.zip``)."""

    created: float
    members: list[Member]
    download_name: str | None = None

    def to_json(self) -> bytes:
        members = [member.to_dict() for member in self.members]
        raw: dict[str, Any] = {"format": FORMAT_VERSION, "created": self.created, "members": members}
        if self.download_name is not None:
            raw["download_name"] = self.download_name
        return json.dumps(raw).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = json.loads(data)
        if raw.get("format") != FORMAT_VERSION:
            raise CorruptResult(f"unknown stored result format {raw.get('format')!r}")
        name = raw.get("download_name")
        if name is not None and not SAFE_DOWNLOAD_NAME.fullmatch(str(name)):
            raise CorruptResult(f"unsafe download name {name!r}")
        return cls(float(raw["created"]), [Member(**member) for member in raw["members"]], name)

    def zip_bytes(self) -> int:
        """The exact size of the rendered download."""
        names = sum(len(member.name.encode()) for member in self.members)
        data = sum(member.size for member in self.members)
        count = len(self.members)
        return (LOCAL_HEADER_BYTES + CENTRAL_HEADER_BYTES) * count + 2 * names + data + END_RECORD_BYTES


def _wav_as_flac(wav: bytes) -> bytes | None:
    """The WAV's samples as FLAC, or None when FLAC cannot hold them losslessly (float, > 8 channels, …)."""
    with sf.SoundFile(io.BytesIO(wav)) as source:
        dtype = FLAC_SUBTYPES.get(source.subtype)
        if (
            source.format != "WAV"
            or dtype is None
            or source.channels > FLAC_MAX_CHANNELS
            or source.samplerate > FLAC_MAX_RATE_HZ
        ):
            return None
        samples = source.read(dtype=dtype, always_2d=True)
        rate, subtype = source.samplerate, source.subtype
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="FLAC", subtype=subtype, compression_level=FLAC_LEVEL)
    return buffer.getvalue()


def _flac_as_wav(flac: bytes, tail: bytes = b"") -> bytes:
    """The WAV libsndfile writes for the FLAC's samples, with ``tail`` (whole RIFF chunks) appended after them."""
    with sf.SoundFile(io.BytesIO(flac)) as source:
        subtype = source.subtype
        samples = source.read(dtype=FLAC_SUBTYPES[subtype], always_2d=True)
        rate = source.samplerate
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype=subtype)
    if not tail:
        return buffer.getvalue()
    wav = bytearray(buffer.getvalue())
    wav += tail
    wav[4:8] = struct.pack("<I", len(wav) - 8)  # the RIFF size covers the appended chunks
    return bytes(wav)


def _split_tail(wav: bytes) -> tuple[bytes, bytes]:
    """(the WAV up to the end of its ``data`` chunk, the chunks after it): the slices carry sampler chunks
    (``smpl``, ``acid``) after their samples, which FLAC does not hold. No tail when the file is not RIFF/WAVE."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        return wav, b""
    offset = 12
    while offset + 8 <= len(wav):
        identifier = wav[offset : offset + 4]
        (size,) = struct.unpack("<I", wav[offset + 4 : offset + 8])
        offset += 8 + size + (size & 1)  # chunks are word-aligned
        if identifier == b"data":
            return wav[:offset], wav[offset:]
    return wav, b""


def pack_result(files: Iterable[tuple[str, bytes]], created: float, download_name: str | None = None) -> bytes:
    """The compact stored form of a download made of ``files`` (name, bytes), in order, to be served as
    ``download_name`` (a record slug and ``.zip``). WAV files are kept as FLAC when that rebuilds them exactly
    (checked here, once), anything else as is."""
    if download_name is not None and not SAFE_DOWNLOAD_NAME.fullmatch(download_name):
        raise ValueError(f"not a safe download name: {download_name!r}")
    members: list[Member] = []
    stored: list[tuple[str, bytes]] = []
    for name, data in files:
        tail = _split_tail(data)[1] if name.lower().endswith(".wav") else b""
        flac = _wav_as_flac(data) if name.lower().endswith(".wav") else None
        if flac is not None and _flac_as_wav(flac, tail) != data:
            flac = None  # a header libsndfile would not write back the same: keep the WAV itself
        kept_as, codec, payload = (name + ".flac", "flac", flac) if flac is not None else (name, "raw", data)
        encoded_tail = base64.b64encode(tail).decode("ascii") if flac is not None and tail else None
        members.append(Member(name, kept_as, codec, len(data), zlib.crc32(data), encoded_tail))
        stored.append((kept_as, payload))
    manifest = Manifest(created, members, download_name)
    if manifest.zip_bytes() > ZIP32_LIMIT:
        raise ValueError("the download would pass 4 GiB")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, manifest.to_json())
        for kept_as, payload in stored:
            archive.writestr(kept_as, payload)
    return buffer.getvalue()


class PackedResult:
    """A compact stored result opened for rendering (over any seekable binary file, e.g. an fsspec file)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        try:
            self.archive = zipfile.ZipFile(handle)
            self.manifest = Manifest.from_json(self.archive.read(MANIFEST))
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as error:
            handle.close()
            raise CorruptResult(f"unreadable stored result: {error}") from error

    @property
    def zip_bytes(self) -> int:
        return self.manifest.zip_bytes()

    def member_bytes(self, member: Member) -> bytes:
        payload = self.archive.read(member.stored_as)
        tail = base64.b64decode(member.tail) if member.tail else b""
        data = _flac_as_wav(payload, tail) if member.codec == "flac" else payload
        if len(data) != member.size or zlib.crc32(data) != member.crc32:
            raise CorruptResult(f"{member.name} does not render to what was stored")
        return data

    def render_zip(self) -> Iterator[bytes]:
        """The download, a stored (uncompressed) zip, one piece per file; closes the handle at the end."""
        try:
            stamp = _dos_time(self.manifest.created)
            offset = 0
            central: list[bytes] = []
            for member in self.manifest.members:
                name = member.name.encode()
                data = self.member_bytes(member)
                header = struct.pack(
                    "<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, *stamp, member.crc32, member.size, member.size, len(name), 0
                )
                central.append(
                    struct.pack(
                        "<IHHHHHHIIIHHHHHII",
                        0x02014B50,
                        0x0314,  # made by: UNIX, ZIP 2.0
                        20,
                        0,
                        0,
                        *stamp,
                        member.crc32,
                        member.size,
                        member.size,
                        len(name),
                        0,
                        0,
                        0,
                        0,
                        0o100644 << 16,  # a regular file, rw-r--r--
                        offset,
                    )
                    + name
                )
                yield header + name + data
                offset += len(header) + len(name) + len(data)
            directory = b"".join(central)
            count = len(central)
            yield directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(directory), offset, 0)
        finally:
            self.close()

    def close(self) -> None:
        self.archive.close()
        self.handle.close()


def _dos_time(epoch: float) -> tuple[int, int]:
    """(time, date) in MS-DOS format, UTC (the same on every replica whatever its time zone)."""
    moment = time.gmtime(max(epoch, 315_532_800.0))  # DOS dates start in 1980
    packed_time = (moment.tm_hour << 11) | (moment.tm_min << 5) | (moment.tm_sec // 2)
    packed_date = ((moment.tm_year - 1980) << 9) | (moment.tm_mon << 5) | moment.tm_mday
    return packed_time, packed_date


def render_to_bytes(packed: bytes) -> bytes:
    """The whole download of a packed result, in memory (for tests and small tools)."""
    return b"".join(PackedResult(io.BytesIO(packed)).render_zip())


__all__ = ["CorruptResult", "Manifest", "Member", "PackedResult", "pack_result", "render_to_bytes"]
