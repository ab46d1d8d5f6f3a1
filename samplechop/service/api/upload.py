"""Reading a ``multipart/form-data`` upload into memory with a size cap enforced while it streams.

Nothing touches the disk: the record is decoded from bytes, so no temporary file can be left behind. The cap
counts every byte of the request body as it arrives (a lying or missing ``Content-Length`` changes nothing); a
declared ``Content-Length`` over the cap is refused before anything is read. The multipart parser is pure Python:
it runs in a worker thread on batches of ``PARSE_BATCH_BYTES``, so the event loop keeps answering (``/healthz``,
other uploads) while a 100-MB body is parsed.

Limits on the form besides the ``file`` part (documented in the OpenAPI document): at most ``MAX_PARTS`` other
parts, text fields of at most ``MAX_FIELD_BYTES`` each, part headers of at most ``MAX_PART_HEADER_BYTES``. Parts
other than the first ``file`` part that carry a filename are skipped without being kept in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers

from samplechop.service.api.problems import MalformedRequest, UnsupportedRequestType, UploadsBusy, UploadTooLarge

FILE_FIELD = "file"
MAX_PARTS = 32
# The longest text field is `points`: 128 hand-placed times with six decimals take ~1.4 KB
# (samplechop.service.parameters.MAX_POINTS_CHARS, 2048, bounds it); every other field is a few bytes.
MAX_FIELD_BYTES = 2048
MAX_PART_HEADER_BYTES = 8192
# One parse call per MiB: ~100 thread hand-offs for the largest upload, each ~1 ms of parsing (python-multipart
# on this machine), so the loop is never held and the hand-offs cost nothing measurable.
PARSE_BATCH_BYTES = 1024 * 1024
RETRY_AFTER_S = 2  # an upload slot frees when a chop ends: typically 1-3 s for a 30-s record (bench/load.py)


@dataclass
class Upload:
    """The uploaded record (the first ``file`` part) and the text fields of the form."""

    file: bytes | None = None
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    keep: bool = True
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    """python-multipart callbacks that gather the parts in memory."""

    def __init__(self) -> None:
        self.upload = Upload()
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.header_bytes = 0
        self.disposition = b""
        self.other_parts = 0
        self.ended = False

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.disposition = b""
        self.header_bytes = 0

    def _count_header(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > MAX_PART_HEADER_BYTES:
            raise MalformedRequest(f"a multipart part's headers are longer than {MAX_PART_HEADER_BYTES} bytes")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_name.strip().lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise MalformedRequest('a multipart part lacks the Content-Disposition "name"')
        part = self.part
        part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            part.filename = options[b"filename"].decode("utf-8", "replace")
        if part.name == FILE_FIELD and self.upload.file is None:
            part.is_file = True  # the record, with a filename or without one
            return
        self.other_parts += 1
        if self.other_parts > MAX_PARTS:
            raise MalformedRequest(f"more than {MAX_PARTS} form parts besides `{FILE_FIELD}`")
        part.keep = part.filename is None and part.name != FILE_FIELD  # other files are skipped unread

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        if not part.keep:
            return
        part.data += data[start:end]
        if not part.is_file and len(part.data) > MAX_FIELD_BYTES:
            raise MalformedRequest(f"form field {part.name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def on_end(self) -> None:
        self.ended = True

    def on_part_end(self) -> None:
        part, upload = self.part, self.upload
        if part.is_file:
            upload.file, upload.filename = bytes(part.data), part.filename
        elif part.keep:
            upload.fields[part.name] = part.data.decode("utf-8", "replace")
        self.part = _Part()


def boundary_of(headers: Headers) -> bytes:
    """The multipart boundary, or a 415 problem when the body is not ``multipart/form-data``."""
    kind, options = parse_options_header(headers.get("content-type", ""))
    if kind != b"multipart/form-data":
        raise UnsupportedRequestType("send the record as the `file` field of a multipart/form-data body")
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedRequest("the multipart/form-data Content-Type has no boundary")
    return boundary


def check_declared_length(headers: Headers, limit: int) -> None:
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)


def _too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge(
        f"the request body exceeds {limit} bytes", headers={"Connection": "close"}, max_upload_bytes=limit
    )


def _parser(boundary: bytes, collector: _Collector) -> MultipartParser:
    return MultipartParser(
        boundary,
        {
            "on_part_begin": collector.on_part_begin,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_end": collector.on_end,
        },
    )


async def read_upload(headers: Headers, body: AsyncIterator[bytes], limit: int) -> Upload:
    """Parse a multipart body from its chunks, stopping with 413 as soon as it passes ``limit`` bytes."""
    boundary = boundary_of(headers)
    check_declared_length(headers, limit)
    collector = _Collector()
    parser = _parser(boundary, collector)
    received = 0
    batch: list[bytes] = []
    batched = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= PARSE_BATCH_BYTES:
                data, batch, batched = b"".join(batch), [], 0
                await anyio.to_thread.run_sync(parser.write, data)
        await anyio.to_thread.run_sync(_finish, parser, b"".join(batch))
    except MultipartParseError as error:
        raise MalformedRequest(f"the multipart body is malformed: {error}") from error
    if not collector.ended:
        raise MalformedRequest("the multipart body ended before its closing boundary")
    return collector.upload


def _finish(parser: MultipartParser, data: bytes) -> None:
    parser.write(data)
    parser.finalize()


class UploadSlots:
    """How many requests of this process may hold an upload at once (being received, queued or chopped).

    Used from the event loop only (no await between the check and the count), so it needs no lock."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0

    def acquire(self) -> None:
        """Take a slot, or raise a 503 problem (``Retry-After``; the body is not read, so the connection closes)."""
        if self.in_use >= self.capacity:
            raise UploadsBusy(
                f"{self.capacity} uploads are being handled; retry after {RETRY_AFTER_S} s",
                headers={"Retry-After": str(RETRY_AFTER_S), "Connection": "close"},
                max_concurrent_uploads=self.capacity,
            )
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
