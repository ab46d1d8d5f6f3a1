"""A real uvicorn server running the real app in a thread on an ephemeral loopback port, for HTTP tests."""

from __future__ import annotations

import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from samplechop.service.api.app import create_app
from samplechop.service.api.protocol import uvicorn_options
from samplechop.service.api.settings import Settings


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it), for a server started as another process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_command(port: int, *options: str) -> list[str]:
    """``samplechop serve`` on a loopback port with this interpreter, as a user runs it (``options``: more flags)."""
    return [
        sys.executable,
        "-m",
        "samplechop.service.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


def shipped_model_path() -> Path:
    """The model the settings point at (the shipped one unless SAMPLECHOP_MODEL_PATH says otherwise)."""
    path = Settings().model_path
    if not path.exists():
        pytest.skip(f"no model at {path} (train one, or set SAMPLECHOP_MODEL_PATH)")
    return path


@dataclass
class Server:
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread
    url: str = ""

    @classmethod
    def start(cls, settings: Settings, timeout_s: float = 120.0) -> Server:
        """Start the app and wait until ``/readyz`` answers 200 (model loaded and warm)."""
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=0,
            lifespan="on",
            access_log=False,
            log_config=None,
            **uvicorn_options(settings),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
        handle = cls(settings, server, thread)
        thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        handle.url = f"http://127.0.0.1:{port}"
        while httpx.get(handle.url + "/readyz").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.05)
        return handle

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
