"""The producers' web page: ``GET /`` serves ``samplechop/service/static/index.html``; its script and styles are
under ``/static``.

Everything the page needs is in the package (no CDN): it decodes and plays the record in the browser with WebAudio
and asks ``POST /chop`` for the chops.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
INDEX = STATIC_DIR / "index.html"


def mount_web(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files at ``/static`` (both left out of the OpenAPI document)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(INDEX, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})
