"""The app, assembled in one place: :func:`create_app` (also uvicorn's factory) and its lifespan.

Startup loads the ONNX model once and refuses to start, with one clear log line, when it cannot (a model made
for another feature spec included). Then the model is warmed up in the background; until that is done
``/readyz`` and ``POST /chop`` answer 503 (stored results can already be fetched).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import PackageNotFoundError, version

import anyio
import anyio.to_thread
from fastapi import FastAPI

from service.api.chopping import ChopService, load_chopper, warm_up
from service.api.openapi import build_openapi
from service.api.problems import install_problem_handlers
from service.api.routes import router
from service.api.settings import Settings
from service.api.store import ResultStore
from service.api.web import mount_web
from service.engine import ModelLoadError

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


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    try:
        chopper = await anyio.to_thread.run_sync(load_chopper, settings)
    except ModelLoadError as error:
        logger.critical("samplechop: refusing to start: %s", error)
        raise
    try:
        store = await anyio.to_thread.run_sync(ResultStore, settings.store_url, settings.result_ttl_s)
    except Exception as error:
        logger.critical(
            "samplechop: refusing to start: cannot open the results store %s: %s", settings.store_url, error
        )
        raise
    app.state.store = store
    service = ChopService(chopper, store, settings.worker_threads)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_warm_up_then_ready, app, service, settings.warmup)
        yield
        tasks.cancel_scope.cancel()
    app.state.service = app.state.store = None


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service app; nothing is loaded until its lifespan starts."""
    app = FastAPI(title="sampleChop", version=_version(), description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings or Settings()
    app.state.service = None
    app.state.store = None
    install_problem_handlers(app)
    app.include_router(router)
    mount_web(app)
    app.openapi = partial(build_openapi, app)  # type: ignore[method-assign]
    return app
