"""Reading a ``multipart/form-data`` upload into memory with a size cap enforced while it streams.

Nothing touches the disk: the record is decoded from bytes, so no temporary file can be left behind. The cap
counts every byte of the request body as it arrives (a lying or missing ``Content-Length`` changes nothing); a
declared ``Content-Length`` over the cap is refused before anything is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers

from service.api.problems import MalformedRequest, UnsupportedRequestType, UploadTooLarge

FILE_FIELD = "file"
MAX_FIELDS = 32
MAX_FIELD_BYTES = 1024


@dataclass
class Upload:
    """The uploaded record (the first ``file`` part) and the text fields of the form (other files are ignored)."""

    file: bytes | None = None
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    """python-multipart callbacks that gather the parts in memory."""

    def __init__(self) -> None:
        self.upload = Upload()
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.disposition = b""
        self.field_count = 0
        self.ended = False

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_name.strip().lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise MalformedRequest('a multipart part lacks the Content-Disposition "name"')
        self.part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            self.part.filename = options[b"filename"].decode("utf-8", "replace")
        else:
            self.field_count += 1
            if self.field_count > MAX_FIELDS:
                raise MalformedRequest(f"more than {MAX_FIELDS} form fields")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.part.data += data[start:end]
        if self.part.filename is None and len(self.part.data) > MAX_FIELD_BYTES:
            raise MalformedRequest(f"form field {self.part.name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def on_end(self) -> None:
        self.ended = True

    def on_part_end(self) -> None:
        part, upload = self.part, self.upload
        if part.name == FILE_FIELD:
            if upload.file is None:
                upload.file, upload.filename = bytes(part.data), part.filename
        elif part.filename is None:
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


async def read_upload(headers: Headers, body: AsyncIterator[bytes], limit: int) -> Upload:
    """Parse a multipart body from its chunks, stopping with 413 as soon as it passes ``limit`` bytes."""
    boundary = boundary_of(headers)
    check_declared_length(headers, limit)
    collector = _Collector()
    parser = MultipartParser(
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
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as error:
        raise MalformedRequest(f"the multipart body is malformed: {error}") from error
    if not collector.ended:
        raise MalformedRequest("the multipart body ended before its closing boundary")
    return collector.upload
