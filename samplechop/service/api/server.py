"""Serving the app with uvicorn: ``samplechop serve`` calls :func:`run`."""

from __future__ import annotations

import copy
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from samplechop.service.api.protocol import uvicorn_options
from samplechop.service.api.settings import Settings
from samplechop.service.engine import ChopModel

APP_FACTORY = "samplechop.service.api.app:create_app"


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with the service's own ``samplechop.*`` loggers shown beside it."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["samplechop"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def run(
    host: str = "127.0.0.1", port: int = 8000, workers: int | None = None, settings: Settings | None = None
) -> None:
    """Serve on ``host:port`` with ``workers`` processes (default: the ``workers`` setting).

    The model is checked once here first (raising ModelLoadError with a clear message) so that a bad model stops
    the command instead of every worker failing its startup. With several workers each process builds its app
    from the factory, reading its settings from the ``SAMPLECHOP_*`` environment; so does the connection protocol
    (head and body deadlines, see :mod:`samplechop.service.api.protocol`).
    """
    settings = settings or Settings()
    workers = workers or settings.workers
    ChopModel(settings.model_path, threads=1)
    if workers > 1:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            lifespan="on",
            log_config=log_config(),
            **uvicorn_options(settings, in_process=False),
        )
    else:
        from samplechop.service.api.app import create_app

        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            lifespan="on",
            log_config=log_config(),
            **uvicorn_options(settings),
        )
