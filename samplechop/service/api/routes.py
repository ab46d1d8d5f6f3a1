"""The HTTP routes: thin, they parse and answer; the work is in :mod:`samplechop.service.api.chopping`."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from samplechop.service.api.chopping import Chopped, ChopService, open_result, zip_url
from samplechop.service.api.examples import CHOP_DOCUMENT_EXAMPLE, problem_responses
from samplechop.service.api.problems import NotReady, ResultNotFound
from samplechop.service.api.results import PackedResult
from samplechop.service.api.schemas import ChopDocument, ChopOptions, Health, Readiness
from samplechop.service.api.settings import DEFAULT_MAX_UPLOAD_BYTES, Settings
from samplechop.service.api.store import ID_PATTERN, ResultStore
from samplechop.service.api.upload import (
    FILE_FIELD,
    MAX_FIELD_BYTES,
    MAX_PART_HEADER_BYTES,
    MAX_PARTS,
    UploadSlots,
    read_upload,
)

router = APIRouter()

ZIP_MEDIA_TYPE = "application/zip"


def plain_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's JSON schema as the API takes it: no title, no ``null`` (leaving a parameter out is how to ask
    for its default; there is no way to send null in a query string or a form field)."""
    plain = {key: value for key, value in schema.items() if key not in ("title", "description")}
    alternatives = plain.pop("anyOf", None)
    if alternatives is not None:
        kept = [option for option in alternatives if option.get("type") != "null"]
        plain = {**kept[0], **plain} if len(kept) == 1 else {**plain, "anyOf": kept}
    if "default" in plain and plain["default"] is None:
        del plain["default"]
    return plain


OPTION_SCHEMAS: dict[str, dict[str, Any]] = ChopOptions.model_json_schema(by_alias=True)["properties"]
QUERY_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "description": schema.get("description", "") + " (a form field of the same name wins)",
        "schema": plain_schema(schema),
    }
    for name, schema in OPTION_SCHEMAS.items()
]
CHOP_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {
                    FILE_FIELD: {
                        "type": "string",
                        "format": "binary",
                        "description": "the record: WAV, AIFF, FLAC, OGG (Vorbis, Opus) or MP3; a filename is optional",
                    },
                    **{
                        name: {**plain_schema(schema), "description": schema.get("description", "")}
                        for name, schema in OPTION_SCHEMAS.items()
                    },
                },
            },
            "encoding": {FILE_FIELD: {"contentType": "audio/wav, audio/flac, audio/ogg, audio/mpeg, audio/aiff"}},
        }
    },
}
LIMITS = (
    f"Limits: the whole body at most `SAMPLECHOP_MAX_UPLOAD_BYTES` (default {DEFAULT_MAX_UPLOAD_BYTES} bytes = "
    "128 MiB, enough for a 10-minute CD-quality WAV; 413 past it); besides `file`, at most "
    f"{MAX_PARTS} parts, each text field at most {MAX_FIELD_BYTES} bytes and each part's headers at most "
    f"{MAX_PART_HEADER_BYTES} bytes (400 past them); other parts carrying a filename are skipped. The record is "
    "at most `SAMPLECHOP_MAX_DURATION_S` long (default 600 s; 422 past it). At most "
    "`SAMPLECHOP_MAX_CONCURRENT_UPLOADS` uploads per process at once (default 8; 503 with `Retry-After` past "
    "it). The request head must arrive within `SAMPLECHOP_HEADER_TIMEOUT_S` (10 s) and the body within "
    "`SAMPLECHOP_BODY_TIMEOUT_S` (300 s) with no gap over `SAMPLECHOP_BODY_IDLE_TIMEOUT_S` (20 s): 408 otherwise."
)
ZIP_CONTENT: dict[str, Any] = {
    ZIP_MEDIA_TYPE: {
        "schema": {"type": "string", "format": "binary"},
        "example": "(zip: <record>_01.wav … <record>_NN.wav, <record>.sfz, <record>.xpm, <record>.mid, chops.json)",
    }
}
RETRY_AFTER_HEADER: dict[str, Any] = {
    "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}
}


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_service(request: Request) -> ChopService:
    """The chopping service, once the model is loaded and warm."""
    service: ChopService | None = request.app.state.service
    if service is None:
        raise NotReady("the chop model is still loading", headers={"Retry-After": "5"})
    return service


def get_store(request: Request) -> ResultStore:
    """The results store, open from the end of startup (stored results need no model)."""
    store: ResultStore | None = request.app.state.store
    if store is None:
        raise NotReady("the service is starting", headers={"Retry-After": "5"})
    return store


def merged_options(query: Mapping[str, str], form: Mapping[str, str]) -> ChopOptions:
    """Validate query parameters and form fields together, a form field replacing the query parameter of the same
    name (so a bad query value a form field overrides is never looked at); 422 problem on error."""
    try:
        return ChopOptions.model_validate({**query, **form})
    except ValidationError as error:
        raise RequestValidationError(
            [
                {**item, "loc": ("body" if item["loc"] and item["loc"][0] in form else "query", *item["loc"])}
                for item in error.errors()
            ]
        ) from error


def wants_zip(options: ChopOptions, accept: str | None) -> bool:
    if options.format is not None:
        return options.format == "zip"
    accept = (accept or "").lower()
    return ZIP_MEDIA_TYPE in accept and "application/json" not in accept


def zip_response(
    packed: PackedResult, result_id: str, remaining_s: float, headers: dict[str, str] | None = None
) -> StreamingResponse:
    """A compact result's zip, rendered member by member while it streams (see
    :mod:`samplechop.service.api.results`); ``remaining_s``: how long the store keeps it."""
    # The record's slug (safe ASCII, checked when the manifest is read); results stored before downloads were
    # named after their record keep the old name.
    filename = packed.manifest.download_name or f"samplechop-{result_id}.zip"
    all_headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Content-Length": str(packed.zip_bytes),
        "Cache-Control": f"private, max-age={max(0, int(remaining_s))}",
        "ETag": f'"{result_id}"',
        **(headers or {}),
    }
    return StreamingResponse(packed.render_zip(), media_type=ZIP_MEDIA_TYPE, headers=all_headers)


async def stored_zip(store: ResultStore, result_id: str) -> StreamingResponse:
    """A stored result's zip, read from the store as it renders."""
    opened = await anyio.to_thread.run_sync(open_result, store, result_id)
    if opened is None:
        raise ResultNotFound("no result with this id (it may have expired)")
    entry, packed = opened
    return zip_response(packed, result_id, entry.expires - store.clock())


def fresh_zip(store: ResultStore, chopped: Chopped) -> StreamingResponse:
    """The zip of a result this request just stored, rendered from the compact result still in memory rather than
    read back: the same bytes GET renders, since both render the same compact result. Memory while it streams: that
    compact result (already built whole to be stored; a fifth to a third of the zip) and one slice at a time."""
    packed = PackedResult(io.BytesIO(chopped.packed))
    # The store's copy was written after `created`, so it outlives this.
    remaining_s = packed.manifest.created + store.ttl_s - store.clock()
    return zip_response(packed, chopped.result_id, remaining_s, {"Content-Location": zip_url(chopped.result_id)})


@router.get("/healthz", tags=["health"], summary="The process is up", operation_id="healthz")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    tags=["health"],
    operation_id="readyz",
    summary="The model is loaded and warm",
    responses=problem_responses(503, slugs={"not-ready"}),
)
async def readyz(service: Annotated[ChopService, Depends(get_service)]) -> Readiness:
    return Readiness(model_id=service.model_id, feature_version=service.feature_version)


@router.post(
    "/chop",
    tags=["chop"],
    operation_id="chop",
    summary="Chop a record into sampler pads",
    description=(
        "Upload a record as the `file` part of a multipart/form-data body. Parameters may be query parameters or "
        "form fields (a form field wins; a blank optional field counts as absent). The answer is the result "
        "document as JSON (default), or with `format=zip` (or `Accept: application/zip`) a zip named after the "
        "record (`<record>.zip`, from the upload's file name) holding one WAV per chop (`<record>_01.wav` …, with "
        "`smpl`/`acid` chunks), the sampler programs `export` asks for (`zip`: all of `<record>.sfz`, "
        "`<record>.xpm`, `<record>.mid`) and `chops.json`. Either way the result is stored and its zip can be "
        "fetched from `zip_url` until it expires.\n\n"
        "`mode` sets each slice's length (`to-next`, whole `bars` on the decoded grid, `beats`, `one-shot`). "
        "`points` (seconds, comma-separated, increasing) replaces the model's choice: the chops start exactly "
        "there (to the sample with `snap=off`, the default), or at the nearest beat (`snap=grid`) or onset "
        "(`snap=onset`); `chops`, `top_n`, `lambda`, `threshold` and `min_distance` are then not used. A point "
        "outside the record is a 422.\n\n" + LIMITS
    ),
    openapi_extra={"parameters": QUERY_PARAMETERS, "requestBody": CHOP_BODY},
    response_model=ChopDocument,
    responses={
        200: {
            "description": "The chops, as JSON or as a zip",
            "content": {"application/json": {"example": CHOP_DOCUMENT_EXAMPLE}, **ZIP_CONTENT},
            "links": {
                "GetZip": {
                    "operationId": "getChopsZip",
                    "parameters": {"result_id": "$response.body#/id"},
                    "description": "the stored result's zip (the JSON answer's `id`)",
                }
            },
        },
        **problem_responses(400, 408, 413, 415, 422),
        503: {**problem_responses(503)[503], "headers": RETRY_AFTER_HEADER},
    },
)
async def chop(
    request: Request,
    service: Annotated[ChopService, Depends(get_service)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    slots: UploadSlots = request.app.state.upload_slots
    slots.acquire()
    try:
        upload = await read_upload(request.headers, request.stream(), settings.max_upload_bytes)
        options = merged_options(request.query_params, upload.fields)
        if upload.file is None:
            raise RequestValidationError([{"loc": ("body", FILE_FIELD), "msg": "Field required", "type": "missing"}])
        chopped = await service.chop(upload.file, options.params(), upload.filename)
        del upload  # the record's bytes: the slot is what bounds them, and it is released next
    finally:
        slots.release()
    if wants_zip(options, request.headers.get("accept")):
        return fresh_zip(service.store, chopped)
    return Response(chopped.document, media_type="application/json")


@router.get(
    "/chops/{result_id}.zip",
    tags=["chop"],
    operation_id="getChopsZip",
    summary="Fetch a stored result's zip again",
    response_class=StreamingResponse,
    responses={200: {"description": "The zip POST /chop made", "content": ZIP_CONTENT}, **problem_responses(404)},
)
async def stored_chops(
    result_id: Annotated[str, PathParam(description=f"an id from POST /chop ({ID_PATTERN.pattern})")],
    store: Annotated[ResultStore, Depends(get_store)],
) -> StreamingResponse:
    return await stored_zip(store, result_id)
