"""RFC 9457 problem details: every error the service answers is ``application/problem+json``.

A problem's ``type`` is a relative URI reference ``/problems/<slug>`` (documented in docs/service.md, not served);
``title`` is fixed per type, ``detail`` says what happened to this request, ``instance`` is the request path
(cut to ``MAX_INSTANCE_CHARS``: a 100-KB path is not echoed back).
The OpenAPI document's example of each problem is in :mod:`samplechop.service.api.examples`.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from samplechop.service.engine import (
    AudioDecodeError,
    InvalidParameters,
    RecordTooLong,
    RecordTooShort,
    SilentRecord,
)
from samplechop.shared_features.audio import AudioLimitError

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Long enough for every real route (/chops/<22 characters>.zip is 33); a request line can be 16 KB.
MAX_INSTANCE_CHARS = 200

logger = logging.getLogger("samplechop.api")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class ProblemError(Exception):
    """An error that answers as a problem document of a fixed type and status."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


class MalformedRequest(ProblemError):
    status, slug, title = 400, "malformed-request", "Malformed request body"


class UnsupportedRequestType(ProblemError):
    status, slug, title = 415, "unsupported-request-type", "multipart/form-data expected"


class UploadTooLarge(ProblemError):
    status, slug, title = 413, "upload-too-large", "Upload too large"


class ResultNotFound(ProblemError):
    status, slug, title = 404, "result-not-found", "No such result"


class NotReady(ProblemError):
    status, slug, title = 503, "not-ready", "Model not loaded yet"


class UploadsBusy(ProblemError):
    status, slug, title = 503, "busy", "Too many uploads at once"


# Engine errors: bad input, never a 500. (status, slug, title); a subclass comes before its base, and the engine's
# RecordTooLong before the decoder's AudioLimitError (the engine raises the former from the latter's AudioTooLong).
ENGINE_PROBLEMS: dict[type[Exception], tuple[int, str, str]] = {
    AudioDecodeError: (415, "not-audio", "Not a supported audio file"),
    RecordTooLong: (422, "record-too-long", "Record too long"),
    RecordTooShort: (422, "record-too-short", "Record too short"),
    SilentRecord: (422, "silent-record", "Silent record"),
    InvalidParameters: (422, "invalid-parameters", "Invalid parameters"),
    # the decoder's "readable, but beyond what is analysed" (rate, channels, samples)
    AudioLimitError: (422, "beyond-analysis-limits", "Audio beyond the analysis limits"),
}


def problem_type(slug: str) -> str:
    return f"/problems/{slug}"


def instance_of(path: str) -> str:
    """The request path as a problem's ``instance``, cut to ``MAX_INSTANCE_CHARS``."""
    return path if len(path) <= MAX_INSTANCE_CHARS else path[: MAX_INSTANCE_CHARS - 1] + "…"


def problem_response(
    request: Request,
    status: int,
    *,
    slug: str | None,
    title: str | None = None,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(slug) if slug else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = instance_of(request.url.path)
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def _problem_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ProblemError)
    return problem_response(
        request,
        error.status,
        slug=error.slug,
        title=error.title,
        detail=error.detail,
        headers=error.headers,
        **error.extensions,
    )


async def _engine_error(request: Request, error: Exception) -> JSONResponse:
    for kind, (status, slug, title) in ENGINE_PROBLEMS.items():
        if isinstance(error, kind):
            return problem_response(request, status, slug=slug, title=title, detail=str(error))
    raise error  # pragma: no cover - only registered for the kinds above


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(item.get("loc", ())), "msg": str(item.get("msg", "")), "type": str(item.get("type", ""))}
        for item in error.errors()
    ]


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = _validation_errors(error)
    detail = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in errors)
    return problem_response(
        request, 422, slug="invalid-parameters", title="Invalid parameters", detail=detail, errors=errors
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    phrase = HTTPStatus(error.status_code).phrase
    detail = error.detail if error.detail and error.detail != phrase else None
    return problem_response(request, error.status_code, slug=None, detail=detail, headers=error.headers)


async def _client_gone(request: Request, error: Exception) -> JSONResponse:
    logger.info("client disconnected during %s %s", request.method, request.url.path)
    return problem_response(request, 400, slug="malformed-request", detail="the client disconnected mid-request")


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unexpected error answering %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(request, 500, slug=None, detail="an unexpected error occurred; it has been logged")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error, FastAPI's own validation errors included, as problem+json."""
    app.add_exception_handler(ProblemError, _problem_error)
    for kind in ENGINE_PROBLEMS:
        app.add_exception_handler(kind, _engine_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected_error)
