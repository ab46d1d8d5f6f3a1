"""Slow and hostile clients against a real server on loopback: every socket closes within its deadline.

A real uvicorn server (the point is its sockets), in a thread of this process, with deadlines short enough to
test in seconds: head 1 s, body 2 s, body idle 0.5 s, keep-alive 0.5 s. Each test measures when the server closes
the connection and checks it is within ``SLACK_S`` of the deadline (and not before it). The waits are the
server's deadlines themselves: every read has a timeout, every loop a count.
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from samplechop.service.api.settings import Settings
from tests.live_server import Server, shipped_model_path

HEADER_S = 1.0
BODY_S = 2.0
BODY_IDLE_S = 0.5
KEEP_ALIVE_S = 0.5
SLACK_S = 0.5  # a loaded 2-core machine schedules a timer late by tens of ms; far more means a missing deadline
MULTIPART = "multipart/form-data; boundary=b"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = Settings(
        model_path=shipped_model_path(),
        store_url=str(tmp_path_factory.mktemp("slow-store")),
        worker_threads=1,
        warmup=False,
        header_timeout_s=HEADER_S,
        body_timeout_s=BODY_S,
        body_idle_timeout_s=BODY_IDLE_S,
        keep_alive_timeout_s=KEEP_ALIVE_S,
        max_concurrent_uploads=1,
        max_upload_bytes=64 * 1024 * 1024,
    )
    running = Server.start(settings)
    yield running
    running.stop()


def _connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _until_closed(connection: socket.socket, started: float, limit_s: float = 10.0) -> tuple[float, bytes]:
    """Read until the server closes; (seconds from ``started`` to the close, everything received)."""
    received = b""
    connection.settimeout(limit_s)
    while True:
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for {limit_s} s")
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return time.monotonic() - started, received
        received += chunk


def _drip(connection: socket.socket, data: bytes, interval_s: float) -> bytes:
    """Send ``data`` a byte every ``interval_s`` (at most ``len(data)`` bytes) while reading what comes back;
    stops when the server closes. Returns what was received."""
    received = b""
    connection.settimeout(interval_s)
    for byte in data:
        try:
            connection.sendall(bytes([byte]))
        except OSError:
            break
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received


def _read_one(connection: socket.socket) -> bytes:
    """One whole answer on a kept-alive connection (its Content-Length says when it ends)."""
    received = b""
    connection.settimeout(10)
    for _ in range(1000):
        received += connection.recv(65536)
        head, separator, body = received.partition(b"\r\n\r\n")
        if separator:
            lines = head.lower().split(b"\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:"))
            if len(body) >= length:
                return received
    raise AssertionError("no whole answer")


def _problem(answer: bytes, status: int, *, closes: bool = True) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    lowered = head.lower()
    assert b"content-type: application/problem+json" in lowered
    assert (b"connection: close" in lowered) == closes
    assert b"x-content-type-options: nosniff" in lowered
    problem = json.loads(body)
    assert problem["status"] == status
    return problem


def _within(elapsed_s: float, deadline_s: float) -> None:
    assert deadline_s - 0.05 <= elapsed_s <= deadline_s + SLACK_S, (elapsed_s, deadline_s)


def test_an_idle_socket_is_closed_at_the_head_deadline(server: Server) -> None:
    with _connect(server) as connection:
        elapsed, answer = _until_closed(connection, time.monotonic())
    _within(elapsed, HEADER_S)
    assert answer == b""  # nothing was asked, nothing is answered


def test_a_drip_fed_head_gets_408_at_the_head_deadline(server: Server) -> None:
    head = b"POST /chop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
    with _connect(server) as connection:
        started = time.monotonic()
        early = _drip(connection, head[:30], 0.1)  # a byte every 0.1 s: the head never ends in time
        elapsed, answer = _until_closed(connection, started)
    _within(elapsed, HEADER_S)
    assert _problem(early + answer, 408)["type"] == "/problems/request-timeout"


def test_a_body_shorter_than_its_length_gets_408_at_the_idle_deadline(server: Server) -> None:
    head = f"POST /chop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {MULTIPART}\r\nContent-Length: 5000\r\n\r\n"
    with _connect(server) as connection:
        connection.sendall(head.encode() + b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nRIFF')
        elapsed, answer = _until_closed(connection, time.monotonic())
    _within(elapsed, BODY_IDLE_S)
    assert "no data for 0.5 s" in _problem(answer, 408)["detail"]


def test_a_drip_fed_body_gets_408_at_the_body_deadline(server: Server) -> None:
    head = f"POST /chop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {MULTIPART}\r\nContent-Length: 5000\r\n\r\n"
    with _connect(server) as connection:
        connection.sendall(head.encode())
        started = time.monotonic()
        early = _drip(connection, b"x" * int(2 * BODY_S / 0.2), 0.2)  # never idle 0.5 s, never done in 2 s
        elapsed, answer = _until_closed(connection, started)
    _within(elapsed, BODY_S)
    assert "within 2 s" in _problem(early + answer, 408)["detail"]


def test_an_idle_kept_alive_connection_is_closed(server: Server) -> None:
    with _connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        started = time.monotonic()
        elapsed, answer = _until_closed(connection, started)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"status":"ok"}')
    _within(elapsed, KEEP_ALIVE_S)


def test_a_huge_path_is_never_echoed(server: Server) -> None:
    """A 20-KB path arriving at once is routed and answered 404 with its ``instance`` cut short; a 400-KB one
    passes what h11 buffers for a head (16 KiB across reads; a read takes up to 256 KiB) and is a 400 problem."""
    for path_bytes, status in ((20_000, 404), (400_000, 400)):
        with _connect(server) as connection:
            connection.sendall(b"GET /" + b"a" * path_bytes + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            _, answer = _until_closed(connection, time.monotonic()) if status == 400 else (0.0, _read_one(connection))
        assert len(answer) < 2048, status
        problem = _problem(answer, status, closes=status == 400)
        assert len(problem.get("instance", "")) <= 200


def test_a_timed_out_upload_frees_its_slot(server: Server) -> None:
    """With one upload slot: a stalled upload holds it (a second is refused with 503) until its deadline, after
    which the slot is free again."""
    head = f"POST /chop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {MULTIPART}\r\nContent-Length: 5000\r\n\r\n"
    with _connect(server) as stalled:
        stalled.sendall(head.encode() + b"--b\r\n")
        deadline = time.monotonic() + 5
        while True:  # until the server has the stalled request's head and holds the slot
            refused = httpx.post(server.url + "/chop", files={"file": ("a.wav", b"RIFF")}, timeout=10)
            if refused.status_code == 503 or time.monotonic() > deadline:
                break
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        _until_closed(stalled, time.monotonic())
    after = httpx.post(server.url + "/chop", files={"file": ("a.wav", b"RIFF")}, timeout=10)
    assert after.status_code == 415  # read and refused as not audio: the slot was free


def test_healthz_answers_promptly_during_big_uploads(server: Server, tmp_path: Path) -> None:
    """Three 40-MB uploads at once (parsed in worker threads) while /healthz is asked 20 times: it answers."""
    payload = bytes(40 * 1024 * 1024)
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n' + payload + b"\r\n--b--\r\n"
    )
    finished: list[int] = []

    def upload() -> None:
        with httpx.Client(timeout=60) as session:
            answer = session.post(server.url + "/chop", content=body, headers={"Content-Type": MULTIPART})
            finished.append(answer.status_code)

    uploads = [threading.Thread(target=upload) for _ in range(3)]
    latencies = []
    with httpx.Client(timeout=10) as session:
        for thread in uploads:
            thread.start()
        for _ in range(20):
            started = time.monotonic()
            assert session.get(server.url + "/healthz").status_code == 200
            latencies.append(time.monotonic() - started)
    for thread in uploads:
        thread.join(timeout=60)
    # One slot: one upload is read and refused as not audio (415), the others get 503 at once; what matters here
    # is that the loop stayed free. Measured: median 2 ms, worst 30-60 ms (the issue saw 371 ms before).
    assert sorted(finished) in ([415, 503, 503], [415, 415, 503], [415, 415, 415])
    assert statistics.median(latencies) < 0.1 and max(latencies) < 0.5, latencies
