"""The HTTP routes: thin, they parse and answer; the work is in :mod:`service.api.chopping`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from service.api.chopping import ChopService, zip_url
from service.api.problems import NotReady, ResultNotFound, problem_responses
from service.api.schemas import CHOP_DOCUMENT_EXAMPLE, ChopDocument, ChopOptions, Health, Readiness
from service.api.settings import Settings
from service.api.store import ID_PATTERN, ResultStore
from service.api.upload import read_upload

router = APIRouter()

ZIP_MEDIA_TYPE = "application/zip"
CHOP_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "the record: WAV, FLAC, OGG or MP3",
                    },
                    **{
                        name: {key: value for key, value in schema.items() if key != "title"}
                        for name, schema in ChopOptions.model_json_schema(by_alias=True)["properties"].items()
                    },
                },
            },
            "encoding": {"file": {"contentType": "audio/wav, audio/flac, audio/ogg, audio/mpeg"}},
        }
    },
}
ZIP_CONTENT: dict[str, Any] = {
    ZIP_MEDIA_TYPE: {
        "schema": {"type": "string", "format": "binary"},
        "example": "(zip: chop_01.wav … chop_NN.wav, chops.json)",
    }
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
    """Validate query parameters and form fields together (a form field wins); 422 problem on error."""
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


async def stored_zip(store: ResultStore, result_id: str, headers: dict[str, str] | None = None) -> StreamingResponse:
    stored = await anyio.to_thread.run_sync(store.open, result_id)
    if stored is None:
        raise ResultNotFound("no result with this id (it may have expired)")
    remaining = max(0, int(stored.expires - store.clock()))
    all_headers = {
        "Content-Disposition": f'attachment; filename="samplechop-{result_id}.zip"',
        "Cache-Control": f"private, max-age={remaining}",
        "ETag": f'"{result_id}"',
        **(headers or {}),
    }
    if stored.size is not None:
        all_headers["Content-Length"] = str(stored.size)
    return StreamingResponse(stored.chunks(), media_type=ZIP_MEDIA_TYPE, headers=all_headers)


@router.get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    tags=["health"],
    summary="The model is loaded and warm",
    responses=problem_responses(503),
)
async def readyz(service: Annotated[ChopService, Depends(get_service)]) -> Readiness:
    return Readiness(model_id=service.model_id, feature_version=service.feature_version)


@router.post(
    "/chop",
    tags=["chop"],
    summary="Chop a record into sampler pads",
    description=(
        "Upload a record as the `file` field of a multipart/form-data body. Parameters may be query parameters or "
        "form fields (a form field wins). The answer is the result document as JSON (default), or with "
        "`format=zip` (or `Accept: application/zip`) a zip of one WAV per chop plus `chops.json`. Either way the "
        "zip is stored and can be fetched again from `zip_url` until it expires."
    ),
    openapi_extra={"requestBody": CHOP_BODY},
    response_model=ChopDocument,
    responses={
        200: {
            "description": "The chops, as JSON or as a zip",
            "content": {"application/json": {"example": CHOP_DOCUMENT_EXAMPLE}, **ZIP_CONTENT},
        },
        **problem_responses(400, 413, 415, 422, 503),
    },
)
async def chop(
    request: Request,
    options: Annotated[ChopOptions, Query()],
    service: Annotated[ChopService, Depends(get_service)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    upload = await read_upload(request.headers, request.stream(), settings.max_upload_bytes)
    options = merged_options(request.query_params, upload.fields)
    if upload.file is None:
        raise RequestValidationError([{"loc": ("body", "file"), "msg": "Field required", "type": "missing"}])
    chopped = await service.chop(upload.file, options.params())
    if wants_zip(options, request.headers.get("accept")):
        return await stored_zip(service.store, chopped.result_id, {"Content-Location": zip_url(chopped.result_id)})
    return Response(chopped.document, media_type="application/json")


@router.get(
    "/chops/{result_id}.zip",
    tags=["chop"],
    summary="Fetch a stored result's zip again",
    response_class=StreamingResponse,
    responses={200: {"description": "The zip POST /chop made", "content": ZIP_CONTENT}, **problem_responses(404)},
)
async def stored_chops(
    result_id: Annotated[str, PathParam(description=f"an id from POST /chop ({ID_PATTERN.pattern})")],
    store: Annotated[ResultStore, Depends(get_store)],
) -> StreamingResponse:
    return await stored_zip(store, result_id)
