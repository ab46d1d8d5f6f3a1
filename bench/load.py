"""Load test: concurrent clients chopping a 30-s record against the HTTP service on loopback.

    python bench/load.py                      # 16 clients for 60 s against a server it starts
    python bench/load.py --seconds 30 --clients 8 --workers 1
    python bench/load.py --url http://127.0.0.1:8000   # a server already running (loopback only)

First it chops the record once directly through the engine, in this process, to measure the CPU time one record
costs (median of a few runs after a warm-up). The target throughput is what 80 % of this machine's cores can do
at that cost: ``0.8 * cores / cpu_per_record`` records per second; the report gives the measured throughput as a
ratio of it. Bounded: at most ``--max-requests`` requests, and no request starts after ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

import httpx
import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
RATE = 44_100


def synth_record(seconds: float, seed: int = 0) -> bytes:
    """A stereo WAV: kick/snare on a 96-bpm grid and a new chord each bar."""
    rng = np.random.default_rng(seed)
    total = int(seconds * RATE)
    mono = np.zeros(total + RATE, dtype=np.float32)
    beat_s = 60.0 / 96.0
    hit_t = np.arange(int(0.12 * RATE)) / RATE
    kick = np.sin(2 * np.pi * (110 * np.exp(-hit_t * 25) + 45) * hit_t) * np.exp(-hit_t * 35)
    roots = [110.0, 146.8, 130.8, 98.0]
    for number, start_s in enumerate(np.arange(0.3, seconds - 0.2, beat_s)):
        start = int(start_s * RATE)
        hit = kick if number % 2 == 0 else rng.standard_normal(hit_t.size) * np.exp(-hit_t * 35)
        mono[start : start + hit.size] += 0.6 * hit.astype(np.float32)
        if number % 4 == 0:
            chord_t = np.arange(int(4 * beat_s * RATE)) / RATE
            root = roots[(number // 4) % len(roots)]
            chord = sum(np.sin(2 * np.pi * root * ratio * chord_t) for ratio in (1.0, 1.26, 1.5, 2.0))
            chord = 0.12 * chord * np.exp(-chord_t * 1.5)
            mono[start : start + chord.size] += chord[: mono.size - start].astype(np.float32)
    stereo = np.stack([mono[:total], 0.9 * mono[:total]], axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, stereo, RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def cpu_per_record(record: bytes, model: Path | None, runs: int = 3) -> float:
    """CPU seconds to chop the record and build its zip, through the engine in this process (median)."""
    from service.engine import DEFAULT_MODEL_PATH, ChopModel, ChopParams, Chopper, zip_bytes

    chopper = Chopper(ChopModel(model or DEFAULT_MODEL_PATH, threads=1))
    zip_bytes(chopper.chop(record, ChopParams()))  # warm-up: JIT compilation, caches
    costs = []
    for _ in range(runs):
        started = time.process_time()
        zip_bytes(chopper.chop(record, ChopParams()))
        costs.append(time.process_time() - started)
    return statistics.median(costs)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    in_window: int = 0  # answered before the deadline
    errors: dict[str, int] = field(default_factory=dict)
    started: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def client_loop(
    session: httpx.AsyncClient, url: str, record: bytes, fmt: str, deadline: float, limit: int, tally: Tally
) -> None:
    while time.monotonic() < deadline and tally.started < limit:
        tally.started += 1
        started = time.monotonic()
        try:
            response = await session.post(
                url + "/chop", files={"file": ("record.wav", record, "audio/wav")}, data={"format": fmt}
            )
            await response.aread()
        except httpx.HTTPError as error:
            tally.error(type(error).__name__)
            continue
        if response.status_code == 200:
            finished = time.monotonic()
            tally.latencies.append(finished - started)
            tally.in_window += finished <= deadline
        else:
            tally.error(f"HTTP {response.status_code}")


async def drive(url: str, record: bytes, clients: int, seconds: float, limit: int, fmt: str) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0), limits=limits) as session:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(client_loop(session, url, record, fmt, deadline, limit, tally) for _ in range(clients)))
        return tally, time.monotonic() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    store: str, workers: int, threads: int, model: Path | None, log: IO[bytes]
) -> tuple[subprocess.Popen[bytes], str]:
    """``samplechop serve`` on a free loopback port, its log (access lines included) going to ``log``."""
    port = free_port()
    env = {
        **os.environ,
        "SAMPLECHOP_STORE_URL": store,
        "SAMPLECHOP_RESULT_TTL_S": "30",  # keeps the store small during the run
        "SAMPLECHOP_WORKER_THREADS": str(threads),
    }
    if model is not None:
        env["SAMPLECHOP_MODEL_PATH"] = str(model)
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    in_a_row = 0
    while in_a_row < 3 * workers:  # every worker process ready
        if process.poll() is not None:
            log.seek(0)
            raise SystemExit(f"the server exited:\n{log.read().decode(errors='replace')}")
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("the server did not become ready in 180 s")
        try:
            in_a_row = in_a_row + 1 if httpx.get(url + "/readyz").status_code == 200 else 0
        except httpx.TransportError:
            in_a_row = 0
        time.sleep(0.2)
    return process, url


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its children (Linux /proc), or None where unavailable."""
    proc = Path("/proc")
    if not (proc / str(pid) / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        process_id, parent = int(stat.parent.name), int(fields[1])
        if process_id == pid or parent == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def percentile(values: list[float], fraction: float) -> float:
    return float(np.percentile(np.asarray(values), fraction * 100)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send requests (60)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--record-seconds", type=float, default=30.0, help="length of the synthetic record (30)")
    parser.add_argument("--max-requests", type=int, default=5000, help="stop after this many requests (5000)")
    parser.add_argument("--format", choices=("json", "zip"), default="json", help="answer format asked for")
    parser.add_argument("--url", default=None, help="a running server on loopback (default: start one)")
    parser.add_argument("--workers", type=int, default=cores, help=f"server processes when starting one ({cores})")
    parser.add_argument("--threads", type=int, default=1, help="worker threads per server process (1)")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.url is not None and urlparse(args.url).hostname not in LOOPBACK:
        parser.error("--url must be a loopback address")
    if not 1 <= args.clients <= 256 or not 0 < args.seconds <= 3600:
        parser.error("--clients must be 1..256 and --seconds 0..3600")

    record = synth_record(args.record_seconds)
    cpu = cpu_per_record(record, args.model)
    target = 0.8 * cores / cpu
    print(f"record: {args.record_seconds:g} s WAV, {len(record) / 1e6:.1f} MB; CPU per record {cpu:.3f} s", flush=True)
    print(f"target: 0.8 x {cores} cores / {cpu:.3f} s = {target:.2f} records/s", flush=True)

    with tempfile.TemporaryDirectory(prefix="samplechop-bench-") as store, tempfile.TemporaryFile() as log:
        process = None
        url = args.url
        if url is None:
            process, url = start_server(store, args.workers, args.threads, args.model, log)
            print(f"server: {url}, {args.workers} worker process(es) x {args.threads} thread(s)", flush=True)
        server_cpu_before = tree_cpu_seconds(process.pid) if process is not None else None
        client_cpu_before = time.process_time()
        try:
            tally, elapsed = asyncio.run(
                drive(url.rstrip("/"), record, args.clients, args.seconds, args.max_requests, args.format)
            )
            client_cpu = time.process_time() - client_cpu_before
            server_cpu_after = tree_cpu_seconds(process.pid) if process is not None else None
        finally:
            if process is not None:
                stop_server(process)

    done = len(tally.latencies)
    # Every client has a request in flight from the first moment until the deadline, and the server stays busy
    # while it drains them, so answers / time-to-last-answer measures its capacity (answers within the window
    # alone would undercount: the first ones take a whole queue's time to come back).
    throughput = done / elapsed
    figures = {
        "clients": args.clients,
        "seconds": args.seconds,
        "drained_by_s": round(elapsed, 1),
        "answered_in_window": tally.in_window,
        "requests": tally.started,
        "ok": done,
        "errors": sum(tally.errors.values()),
        "error_kinds": tally.errors,
        "throughput_rps": round(throughput, 3),
        "p50_s": round(percentile(tally.latencies, 0.50), 3),
        "p99_s": round(percentile(tally.latencies, 0.99), 3),
        "cpu_per_record_s": round(cpu, 3),
        "cores": cores,
        "target_rps": round(target, 3),
        "ratio": round(throughput / target, 3),
        "client_cpu_s": round(client_cpu, 1),
        "server_cpu_per_request_s": None,
    }
    if server_cpu_before is not None and server_cpu_after is not None and tally.started:
        server_cpu = server_cpu_after - server_cpu_before
        figures["server_cpu_per_request_s"] = round(server_cpu / tally.started, 3)
        # how much of the machine the server got: below ~0.8 with clients queued, other processes took the rest
        figures["server_cpu_share"] = round(server_cpu / (elapsed * cores), 3)
    if args.json:
        print(json.dumps(figures))
    else:
        errors = f"{figures['errors']} errors {tally.errors or ''}"
        print(f"{done} ok / {tally.started} requests sent in {args.seconds:g} s, answered by {elapsed:.1f} s, {errors}")
        p50, p99 = figures["p50_s"], figures["p99_s"]
        print(f"throughput {throughput:.2f} records/s; latency p50 {p50:.2f} s, p99 {p99:.2f} s")
        print(f"ratio to target: {figures['ratio']:.2f} (target {target:.2f} records/s)")
        served = figures["server_cpu_per_request_s"]
        if served is not None:
            share = figures["server_cpu_share"]
            print(f"server CPU per request {served:.3f} s (engine alone {cpu:.3f} s); it used {share:.0%} of the cores")
            print(f"this load generator used {client_cpu:.1f} s CPU of the same cores")
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
