"""The app, assembled in one place: :func:`create_app` (also uvicorn's factory) and its lifespan.

Startup loads the ONNX model once and refuses to start, with one clear log line, when it cannot (a model made
for another feature spec included). Then the model is warmed up in the background; until that is done
``/readyz`` and ``POST /chop`` answer 503 (stored results can already be fetched). For as long as it runs, the
process sweeps the results store every ``sweep_interval_s`` (expired results, then the oldest past the size cap).
Every answer, error pages included, carries the security headers of :mod:`samplechop.service.api.headers`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import PackageNotFoundError, version

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from samplechop.service.api.chopping import ChopService, load_chopper, open_store, warm_up
from samplechop.service.api.docs_page import DOCS_CSP, render_docs
from samplechop.service.api.headers import SecurityHeaders
from samplechop.service.api.openapi import build_openapi
from samplechop.service.api.problems import install_problem_handlers
from samplechop.service.api.routes import router
from samplechop.service.api.settings import Settings
from samplechop.service.api.store import ResultStore
from samplechop.service.api.upload import UploadSlots
from samplechop.service.api.web import mount_web
from samplechop.service.engine import ModelLoadError

logger = logging.getLogger("samplechop.api")

DESCRIPTION = (
    "Chops a record into sampler pads with a trained chop-point model. Stateless: results are kept in a shared "
    "store for a while, so any replica can serve any result's zip. Errors are RFC 9457 `application/problem+json`."
)


def _version() -> str:
    try:
        return version("samplechop")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


async def _warm_up_then_ready(app: FastAPI, service: ChopService, warm: bool) -> None:
    if warm:
        try:
            await anyio.to_thread.run_sync(warm_up, service.chopper, limiter=service.limiter)
        except Exception:  # the model loaded; a failed warm-up only makes the first request slower
            logger.exception("warming up the model failed")
    app.state.service = service
    logger.info("ready: model %s, feature spec %s", service.model_id, service.feature_version)


async def sweep_forever(
    store: ResultStore, interval_s: float, sleep: Callable[[float], Awaitable[None]] = anyio.sleep
) -> None:
    """Sweep the store now and then every ``interval_s``, in a worker thread (it lists and deletes). Runs until
    cancelled; ``sleep`` is injectable so tests drive it without waiting."""
    while True:
        swept = await anyio.to_thread.run_sync(store.sweep_quietly)
        if swept is not None and (swept.expired or swept.evicted):
            logger.info(
                "results store: %d expired and %d over the size cap removed; %d left, %d bytes",
                swept.expired,
                swept.evicted,
                swept.entries,
                swept.total_bytes,
            )
        await sleep(interval_s)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    try:
        chopper = await anyio.to_thread.run_sync(load_chopper, settings)
    except ModelLoadError as error:
        logger.critical("samplechop: refusing to start: %s", error)
        raise
    try:
        store = await anyio.to_thread.run_sync(open_store, settings)
    except Exception as error:
        logger.critical(
            "samplechop: refusing to start: cannot open the results store %s: %s", settings.store_url, error
        )
        raise
    app.state.store = store
    service = ChopService(chopper, store, settings.worker_threads)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_warm_up_then_ready, app, service, settings.warmup)
        tasks.start_soon(sweep_forever, store, settings.sweep_interval_s)
        yield
        tasks.cancel_scope.cancel()
    app.state.service = app.state.store = None


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service app; nothing is loaded until its lifespan starts."""
    app = FastAPI(
        title="sampleChop",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN: /docs is served below instead
        redoc_url=None,
    )
    app.state.settings = settings = settings or Settings()
    app.state.service = None
    app.state.store = None
    app.state.upload_slots = UploadSlots(settings.max_concurrent_uploads)
    install_problem_handlers(app)
    app.include_router(router)
    mount_web(app)
    app.openapi = partial(build_openapi, app)  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(render_docs(request.app.openapi()), headers={"Content-Security-Policy": DOCS_CSP})

    # Outermost, around Starlette's own error middleware too, so that even a 500 page carries the headers.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build_stack())  # type: ignore[method-assign]
    return app
