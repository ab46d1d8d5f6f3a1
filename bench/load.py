"""Load test: 16 clients chopping a 30-s record for 2 minutes against the HTTP service, alone and behind HAProxy.

    python bench/load.py                      # both set-ups, 16 clients x 120 s each
    python bench/load.py --short              # both, 20 s each (a smoke run)
    python bench/load.py --setup direct --workers 1 --threads 2 --seconds 60
    python bench/load.py --setup balanced     # two replicas behind deploy/haproxy.cfg, one shared store
    python bench/load.py --url http://127.0.0.1:8000   # a server already running (loopback only)

Set-ups: ``direct`` is one ``samplechop serve --workers N``; ``balanced`` is two ``samplechop serve`` replicas
(``--workers`` each) behind Debian's HAProxy with the repository's ``deploy/haproxy.cfg``, sharing one results
store (a local directory, or with ``--s3`` a moto S3 server on loopback, as in ``tests/test_scaleout.py``).

Reported per set-up: throughput, p50/p99 latency, errors, requests shed with 503 (retried after ``Retry-After``,
at most ``MAX_RETRIES`` times), peak RSS (VmHWM) of every server process, and the results store: its largest size
seen during the run against its cap (``--store-cap-mb``, small on purpose so eviction runs) and the bytes stored
per request. First the record is chopped once through the engine in this process to measure its CPU cost; the
target throughput is ``0.8 * cores / cpu_per_record``. Bounded: at most ``--max-requests`` requests per set-up,
no request starts after ``--seconds``, every wait has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

import httpx
import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.live_server import free_port, serve_command  # noqa: E402

HAPROXY_CONFIG = REPO / "deploy" / "haproxy.cfg"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
RATE = 44_100
MAX_RETRIES = 5
START_TIMEOUT_S = 180.0


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


def cpu_per_record(record: bytes, model: Path | None, runs: int = 3) -> tuple[float, int]:
    """CPU seconds to chop the record and build its zip through the engine in this process (median), and the
    size of that zip (what the service stored per request before it stored compact results)."""
    from samplechop.service.engine import DEFAULT_MODEL_PATH, ChopModel, ChopParams, Chopper, zip_bytes

    chopper = Chopper(ChopModel(model or DEFAULT_MODEL_PATH, threads=1))
    zipped = zip_bytes(chopper.chop(record, ChopParams()))  # warm-up: JIT compilation, caches
    costs = []
    for _ in range(runs):
        started = time.process_time()
        zip_bytes(chopper.chop(record, ChopParams()))
        costs.append(time.process_time() - started)
    return statistics.median(costs), len(zipped)


# --- clients --------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    in_window: int = 0  # answered before the deadline
    errors: dict[str, int] = field(default_factory=dict)
    shed: int = 0  # 503 answers, retried after Retry-After
    started: int = 0
    replicas: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def one_request(session: httpx.AsyncClient, url: str, record: bytes, fmt: str, tally: Tally) -> None:
    started = time.monotonic()
    for _ in range(MAX_RETRIES + 1):
        try:
            response = await session.post(
                url + "/chop", files={"file": ("record.wav", record, "audio/wav")}, data={"format": fmt}
            )
            await response.aread()
        except httpx.HTTPError as error:
            tally.error(type(error).__name__)
            return
        if response.status_code != 503:
            break
        tally.shed += 1
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    if response.status_code == 200:
        tally.latencies.append(time.monotonic() - started)
        replica = response.headers.get("x-samplechop-replica", "-")
        tally.replicas[replica] = tally.replicas.get(replica, 0) + 1
    else:
        tally.error(f"HTTP {response.status_code}")


async def client_loop(
    session: httpx.AsyncClient, url: str, record: bytes, fmt: str, deadline: float, limit: int, tally: Tally
) -> None:
    while time.monotonic() < deadline and tally.started < limit:
        tally.started += 1
        before = len(tally.latencies)
        await one_request(session, url, record, fmt, tally)
        if len(tally.latencies) > before and time.monotonic() <= deadline:
            tally.in_window += 1


async def drive(url: str, record: bytes, clients: int, seconds: float, limit: int, fmt: str) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits) as session:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(client_loop(session, url, record, fmt, deadline, limit, tally) for _ in range(clients)))
        return tally, time.monotonic() - started


# --- servers --------------------------------------------------------------------------------------------------


def wait_until(what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise SystemExit(f"{what} exited:\n{log.read().decode(errors='replace')[-4000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not become ready in {START_TIMEOUT_S:g} s")
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)


def ready_in_a_row(url: str, count: int) -> Callable[[], bool]:
    """Ready when ``count`` /readyz in a row answer 200 (with several workers, each connection may go to any)."""
    state = {"in_a_row": 0}

    def ready() -> bool:
        state["in_a_row"] = state["in_a_row"] + 1 if httpx.get(url + "/readyz").status_code == 200 else 0
        return state["in_a_row"] >= count

    return ready


def start_server(env: dict[str, str], workers: int, log: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    """``samplechop serve`` on a free loopback port."""
    port = free_port()
    command = serve_command(port, "--workers", str(workers))
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until("samplechop serve", ready_in_a_row(url, 3 * workers), process, log)
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(int(stat.parent.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def peak_rss_mb(pid: int) -> tuple[float, float] | None:
    """(peak RSS, current RSS) in MB from /proc/PID/status, or None when the process is gone."""
    try:
        status = (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return None
    values = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Vm")}
    return values.get("VmHWM", 0) / 1024, values.get("VmRSS", 0) / 1024


def python_processes(pids: list[int]) -> list[int]:
    """The server's Python processes (uvicorn master and workers; not multiprocessing's resource tracker)."""
    kept = []
    for pid in pids:
        try:
            command = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not any(b"resource_tracker" in part for part in command):
            kept.append(pid)
    return kept


class StoreWatch:
    """Samples the results store's total size every ``interval_s`` in a thread; keeps the largest seen."""

    def __init__(self, size_bytes: Callable[[], int], interval_s: float = 1.0) -> None:
        self.size_bytes = size_bytes
        self.interval_s = interval_s
        self.largest = 0
        self.last = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        try:
            self.last = self.size_bytes()
        except Exception:  # a listing racing a deletion: the next sample will do
            return
        self.largest = max(self.largest, self.last)

    def __enter__(self) -> StoreWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.sample()


def directory_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.iterdir() if path.is_file())


# --- one set-up -----------------------------------------------------------------------------------------------


@dataclass
class SetUp:
    name: str
    url: str
    servers: dict[str, subprocess.Popen[bytes]]
    store_size: Callable[[], int] | None
    stored_results: Callable[[], int] | None


def server_env(args: argparse.Namespace, store_url: str, store_options: dict[str, str] | None) -> dict[str, str]:
    env = {
        **os.environ,
        "SAMPLECHOP_STORE_URL": store_url,
        "SAMPLECHOP_WORKER_THREADS": str(args.threads),
        "SAMPLECHOP_MAX_STORE_BYTES": str(int(args.store_cap_mb * 1e6)),
        "SAMPLECHOP_SWEEP_INTERVAL_S": "10",
    }
    if store_options:
        env["SAMPLECHOP_STORE_OPTIONS"] = json.dumps(store_options)
    if args.model is not None:
        env["SAMPLECHOP_MODEL_PATH"] = str(args.model)
    return env


def start_moto(log: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_until("moto", lambda: httpx.get(endpoint + "/moto-api/").status_code == 200, process, log)
    return process, endpoint


def run_setup(
    name: str, args: argparse.Namespace, record: bytes, work: Path, log: IO[bytes]
) -> dict[str, object] | None:
    """Start the set-up, drive it, measure, stop it; the figures (None when it cannot run here)."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        store_dir = work / f"store-{name}"
        store_dir.mkdir()
        store_url, store_options = str(store_dir), None
        store_size: Callable[[], int] = lambda: directory_bytes(store_dir)  # noqa: E731
        stored_results: Callable[[], int] = lambda: sum(1 for _ in store_dir.glob("*.chop"))  # noqa: E731
        if args.s3:
            moto, endpoint = start_moto(log)
            processes.append(moto)
            os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
            import s3fs

            s3 = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")
            bucket = f"samplechop-bench/{name}"
            store_url, store_options = f"s3://{bucket}", {"endpoint_url": endpoint}

            def s3_listing() -> list[dict]:
                s3.invalidate_cache()
                return [info for info in s3.ls(bucket, detail=True) if info["name"].endswith(".chop")]

            store_size = lambda: sum(info["size"] for info in s3_listing())  # noqa: E731
            stored_results = lambda: len(s3_listing())  # noqa: E731
        env = server_env(args, store_url, store_options)
        if name == "direct":
            server, url = start_server(env, args.workers, log)
            processes.append(server)
            setup = SetUp(name, url, {"server": server}, store_size, stored_results)
        else:
            if shutil.which("haproxy") is None:
                print("balanced: skipped, HAProxy is not installed (apt-get install haproxy)", flush=True)
                return None
            replicas: dict[str, subprocess.Popen[bytes]] = {}
            urls = []
            for replica in ("replica-1", "replica-2"):
                process, replica_url = start_server(env, args.workers, log)
                processes.append(process)
                replicas[replica] = process
                urls.append(replica_url.removeprefix("http://"))
            port = free_port()
            balancer_env = {**os.environ, "LB_BIND": f"127.0.0.1:{port}", "REPLICA_1": urls[0], "REPLICA_2": urls[1]}
            balancer = subprocess.Popen(
                ["haproxy", "-db", "-f", str(HAPROXY_CONFIG)], env=balancer_env, stdout=log, stderr=subprocess.STDOUT
            )
            processes.append(balancer)
            url = f"http://127.0.0.1:{port}"
            wait_until("haproxy", ready_in_a_row(url, 4), balancer, log)
            setup = SetUp(name, url, replicas, store_size, stored_results)
        return measure(setup, args, record)
    finally:
        for process in reversed(processes):
            stop(process)


def measure(setup: SetUp, args: argparse.Namespace, record: bytes) -> dict[str, object]:
    trees = {label: python_processes(process_tree(process.pid)) for label, process in setup.servers.items()}
    idle_rss = {pid: peak_rss_mb(pid) for pids in trees.values() for pid in pids}
    cpu_before = tree_cpu_seconds([pid for pids in trees.values() for pid in pids])
    assert setup.store_size is not None and setup.stored_results is not None
    with StoreWatch(setup.store_size) as watch:
        tally, elapsed = asyncio.run(
            drive(setup.url, record, args.clients, args.seconds, args.max_requests, args.format)
        )
    server_cpu = tree_cpu_seconds([pid for pids in trees.values() for pid in pids]) - cpu_before
    workers = []
    for label, pids in trees.items():
        for pid in pids:
            rss = peak_rss_mb(pid)
            idle = idle_rss.get(pid)
            if rss is not None:
                role = "master" if pid == setup.servers[label].pid and len(pids) > 1 else "worker"
                workers.append(
                    {
                        "process": f"{label}/{role}/{pid}",
                        "peak_rss_mb": round(rss[0], 1),
                        "idle_rss_mb": round(idle[1], 1) if idle else None,
                    }
                )
    done = len(tally.latencies)
    stored = setup.stored_results()
    return {
        "setup": setup.name,
        "clients": args.clients,
        "seconds": args.seconds,
        "drained_by_s": round(elapsed, 1),
        "requests": tally.started,
        "ok": done,
        "answered_in_window": tally.in_window,
        "errors": sum(tally.errors.values()),
        "error_kinds": tally.errors,
        "shed_503": tally.shed,
        "throughput_rps": round(done / elapsed, 3),
        "p50_s": round(percentile(tally.latencies, 0.50), 3),
        "p99_s": round(percentile(tally.latencies, 0.99), 3),
        "answered_by": tally.replicas,
        "server_cpu_per_request_s": round(server_cpu / max(1, done), 3),
        "server_cpu_share": round(server_cpu / (elapsed * (os.cpu_count() or 1)), 3),
        "processes": workers,
        "store_cap_bytes": int(args.store_cap_mb * 1e6),
        "store_largest_bytes": watch.largest,
        "store_final_bytes": watch.last,
        "store_results_kept": stored,
        "stored_bytes_per_result": round(watch.last / stored) if stored else None,
    }


def percentile(values: list[float], fraction: float) -> float:
    return float(np.percentile(np.asarray(values), fraction * 100)) if values else float("nan")


def report(figures: dict[str, object], target: float) -> None:
    errors = f"{figures['errors']} errors {figures['error_kinds'] or ''}"
    print(f"--- {figures['setup']}: {figures['clients']} clients x {figures['seconds']:g} s", flush=True)
    print(f"{figures['ok']} ok / {figures['requests']} requests, answered by {figures['drained_by_s']} s; {errors}")
    print(f"shed with 503 and retried: {figures['shed_503']}; answered by: {figures['answered_by']}")
    print(
        f"throughput {figures['throughput_rps']:.2f} records/s "
        f"(ratio to target {figures['throughput_rps'] / target:.2f}); "
        f"latency p50 {figures['p50_s']:.2f} s, p99 {figures['p99_s']:.2f} s"
    )
    print(f"server CPU per request {figures['server_cpu_per_request_s']} s, {figures['server_cpu_share']:.0%} of cores")
    for process in figures["processes"]:  # type: ignore[union-attr]
        print(f"  {process['process']}: peak RSS {process['peak_rss_mb']} MB (idle {process['idle_rss_mb']} MB)")
    cap = figures["store_cap_bytes"]
    print(
        f"store: largest {figures['store_largest_bytes'] / 1e6:.1f} MB of a {cap / 1e6:.0f} MB cap "  # type: ignore[operator]
        f"({figures['store_results_kept']} results kept, {figures['stored_bytes_per_result']} bytes each)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to send requests, per set-up (120)")
    parser.add_argument("--short", action="store_true", help="a 20-s smoke run per set-up")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--setup", choices=("direct", "balanced", "both"), default="both", help="what to load (both)")
    parser.add_argument("--record-seconds", type=float, default=30.0, help="length of the synthetic record (30)")
    parser.add_argument("--max-requests", type=int, default=5000, help="stop after this many requests (5000)")
    parser.add_argument("--format", choices=("json", "zip"), default="json", help="answer format asked for")
    parser.add_argument("--url", default=None, help="a running server on loopback (default: start the set-ups)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"processes per server: {cores} direct, {max(1, cores // 2)} a replica",
    )
    parser.add_argument("--threads", type=int, default=1, help="worker threads per server process (1)")
    parser.add_argument("--store-cap-mb", type=float, default=64.0, help="SAMPLECHOP_MAX_STORE_BYTES, in MB (64)")
    parser.add_argument("--s3", action="store_true", help="store results on a moto S3 server on loopback")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON lines")
    args = parser.parse_args(argv)
    if args.short:
        args.seconds = 20.0
    if args.url is not None and urlparse(args.url).hostname not in LOOPBACK:
        parser.error("--url must be a loopback address")
    if not 1 <= args.clients <= 256 or not 0 < args.seconds <= 3600:
        parser.error("--clients must be 1..256 and --seconds 0..3600")

    record = synth_record(args.record_seconds)
    cpu, zip_size = cpu_per_record(record, args.model)
    target = 0.8 * cores / cpu
    print(
        f"record: {args.record_seconds:g} s WAV, {len(record) / 1e6:.1f} MB; its zip {zip_size / 1e6:.2f} MB",
        flush=True,
    )
    print(f"CPU per record {cpu:.3f} s; target 0.8 x {cores} cores / {cpu:.3f} s = {target:.2f} records/s", flush=True)

    results = []
    if args.url is not None:
        tally, elapsed = asyncio.run(
            drive(args.url.rstrip("/"), record, args.clients, args.seconds, args.max_requests, args.format)
        )
        print(
            f"{len(tally.latencies)} ok / {tally.started} in {elapsed:.1f} s; errors {tally.errors}; shed {tally.shed}"
        )
        p50, p99 = percentile(tally.latencies, 0.5), percentile(tally.latencies, 0.99)
        print(f"throughput {len(tally.latencies) / elapsed:.2f} records/s; p50 {p50:.2f} s, p99 {p99:.2f} s")
        return 0 if not tally.errors else 1
    setups = ("direct", "balanced") if args.setup == "both" else (args.setup,)
    with tempfile.TemporaryDirectory(prefix="samplechop-bench-") as work, tempfile.TemporaryFile() as log:
        for name in setups:
            workers = args.workers or (cores if name == "direct" else max(1, cores // 2))
            figures = run_setup(name, argparse.Namespace(**{**vars(args), "workers": workers}), record, Path(work), log)
            if figures is None:
                continue
            figures["zip_bytes_per_result_before"] = zip_size
            results.append(figures)
            print(json.dumps(figures)) if args.json else report(figures, target)
    return 0 if all(figures["errors"] == 0 for figures in results) else 1


if __name__ == "__main__":
    sys.exit(main())
