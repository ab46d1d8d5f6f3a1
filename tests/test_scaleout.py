"""Scale-out as operators run it: two ``samplechop serve`` replicas behind HAProxy, sharing one store on S3.

Everything is real and on loopback, each on a free port: an S3-protocol server (moto in server mode, its own
process), two replica processes whose store is ``s3://…`` through fsspec/s3fs, and Debian's HAProxy with the
repository's own ``deploy/haproxy.cfg`` (the one ``compose.yaml`` mounts), told the addresses by environment.

What must hold: a result made on one replica is served through the balancer by the other; a replica killed
(SIGKILL) while clients are chopping loses no result that was answered 200, and the survivor takes the load.
Skips only when the ``haproxy`` binary is missing (``.ci/run`` installs it). ``compose.yaml`` cannot run here (no
container engine): its test checks it describes this same wiring, and HAProxy checks the config with its values.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from tests.live_server import free_port, serve_command, shipped_model_path
from tests.synth import beat_record

REPO = Path(__file__).resolve().parent.parent
HAPROXY_CONFIG = REPO / "deploy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.path.exists(p)), None)
BUCKET_URL = "s3://samplechop-test/results"
REPLICA_HEADER = "x-samplechop-replica"
START_TIMEOUT_S = 120.0
# After a SIGKILL the kernel still completes connections to the dying process for a few ms; past this the port is
# closed and HAProxy retries every refused connection on the other replica (and drops the victim within ~1 s).
SETTLE_S = 0.5

COMPOSE = REPO / "compose.yaml"
needs_haproxy = pytest.mark.skipif(
    HAPROXY is None, reason="HAProxy is not installed here (apt-get install haproxy; .ci/run installs it)"
)


def _wait(what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not start in {START_TIMEOUT_S:g} s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@dataclass
class Stack:
    endpoint: str
    replicas: dict[str, subprocess.Popen[bytes]]
    replica_urls: dict[str, str]
    balancer_url: str
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def s3(self):
        import s3fs

        return s3fs.S3FileSystem(endpoint_url=self.endpoint, key="testing", secret="testing")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("scaleout")
    # moto takes any credentials; real ones must never be needed (nor reach a real endpoint) here
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = logs / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
        processes.append(process)
        return process, log

    try:
        s3_port = free_port()
        endpoint = f"http://127.0.0.1:{s3_port}"
        moto, moto_log = spawn(
            "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], dict(os.environ)
        )
        _wait("moto", lambda: httpx.get(endpoint + "/moto-api/").status_code == 200, moto, moto_log)

        replica_env = {
            **os.environ,
            **credentials,
            "SAMPLECHOP_MODEL_PATH": str(shipped_model_path()),
            "SAMPLECHOP_STORE_URL": BUCKET_URL,
            "SAMPLECHOP_STORE_OPTIONS": json.dumps({"endpoint_url": endpoint}),
            "SAMPLECHOP_WORKER_THREADS": "1",
            "SAMPLECHOP_WARMUP": "false",
        }
        replicas, urls, started = {}, {}, []
        for name in ("replica-1", "replica-2"):
            port = free_port()
            replicas[name], log = spawn(name, serve_command(port), replica_env)
            urls[name] = f"http://127.0.0.1:{port}"
            started.append((name, log))
        for name, log in started:
            _wait(name, lambda url=urls[name]: httpx.get(url + "/readyz").status_code == 200, replicas[name], log)

        lb_port = free_port()
        balancer_env = {
            **os.environ,
            "LB_BIND": f"127.0.0.1:{lb_port}",
            "REPLICA_1": urls["replica-1"].removeprefix("http://"),
            "REPLICA_2": urls["replica-2"].removeprefix("http://"),
        }
        balancer, balancer_log = spawn("haproxy", [HAPROXY, "-db", "-f", str(HAPROXY_CONFIG)], balancer_env)
        balancer_url = f"http://127.0.0.1:{lb_port}"
        seen: set[str] = set()

        def both_up() -> bool:  # health checks passed for both: answers come from each
            answer = httpx.get(balancer_url + "/readyz")
            if answer.status_code == 200:
                seen.add(answer.headers[REPLICA_HEADER])
            return seen == {"replica-1", "replica-2"}

        _wait("haproxy", both_up, balancer, balancer_log)
        yield Stack(endpoint, replicas, urls, balancer_url, logs, processes)
    finally:
        for process in reversed(processes):
            _stop(process)


@pytest.fixture(scope="module")
def record() -> bytes:
    buffer = io.BytesIO()
    synth = beat_record(4.0, bpm=110.0, seed=7)
    sf.write(buffer, synth.audio, synth.sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _chop(session: httpx.Client, url: str, record: bytes) -> httpx.Response:
    return session.post(url + "/chop", files={"file": ("record.wav", record)}, data={"chops": "4"})


def _zip_document(content: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        document = json.loads(archive.read("chops.json"))
        expected = [c["file"] for c in document["chops"]] + document["exports"] + ["chops.json"]
        assert sorted(archive.namelist()) == sorted(expected)
        return document


@needs_haproxy
@pytest.mark.slow  # starts S3, two replica processes and HAProxy
def test_a_result_made_on_one_replica_is_served_by_the_other(stack: Stack, record: bytes) -> None:
    with httpx.Client(timeout=60) as session:
        made = _chop(session, stack.balancer_url, record)
        assert made.status_code == 200, made.text
        maker, document = made.headers[REPLICA_HEADER], made.json()
        for _ in range(10):  # leastconn spreads idle requests in turn: the other replica answers within a few
            fetched = session.get(stack.balancer_url + document["zip_url"])
            if fetched.headers[REPLICA_HEADER] != maker:
                break
        assert fetched.status_code == 200 and fetched.headers[REPLICA_HEADER] != maker
        assert _zip_document(fetched.content) == document
        # the same bytes from the maker itself, and the result lives in the bucket, compact
        assert session.get(stack.replica_urls[maker] + document["zip_url"]).content == fetched.content
    stored = stack.s3().info(f"{BUCKET_URL.removeprefix('s3://')}/{document['id']}.chop")
    assert 0 < stored["size"] < len(fetched.content)


@needs_haproxy
@pytest.mark.slow  # starts S3, two replica processes and HAProxy
def test_a_replica_killed_during_load_loses_no_stored_result(stack: Stack, record: bytes) -> None:
    """Three clients chop through the balancer; once 4 requests have been answered, replica-1 is killed with
    SIGKILL, and each client goes on until it has started 3 requests ``SETTLE_S`` after the kill (at most 20
    each). Requests caught by the kill may fail (one per client at most: the body had gone to the victim, so
    HAProxy cannot retry it); every 200 must still be fetchable (from the survivor), which takes all the rest."""
    outcomes: list[tuple[float, int | str, dict | None, str | None]] = []  # (started, status, document, replica)
    lock = threading.Lock()
    four_answered, killed = threading.Event(), threading.Event()
    killed_at = [float("inf")]

    def client() -> None:
        after_kill = 0
        with httpx.Client(timeout=60) as session:
            for _ in range(20):
                if after_kill >= 3:
                    break
                started = time.monotonic()
                after_kill += started > killed_at[0] + SETTLE_S
                try:
                    answer = _chop(session, stack.balancer_url, record)
                    status = answer.status_code
                    document = answer.json() if status == 200 else None
                    outcome = (started, status, document, answer.headers.get(REPLICA_HEADER))
                except httpx.TransportError as error:
                    outcome = (started, type(error).__name__, None, None)
                with lock:
                    outcomes.append(outcome)
                    if sum(1 for o in outcomes if o[1] == 200) >= 4:
                        four_answered.set()
                if not killed.is_set():
                    killed.wait(timeout=0.05)  # let the others reach the kill too: all three keep loading it

    clients = [threading.Thread(target=client) for _ in range(3)]
    for thread in clients:
        thread.start()
    assert four_answered.wait(timeout=120), outcomes
    victim = stack.replicas["replica-1"]
    killed_at[0] = time.monotonic()
    victim.kill()  # SIGKILL: no graceful shutdown, requests in flight there are cut
    killed.set()
    victim.wait(timeout=10)
    for thread in clients:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in clients)

    answered = [o for o in outcomes if o[1] == 200]
    failed = [o for o in outcomes if o[1] != 200]
    # Only requests in flight on the victim may fail (at most one per client); HAProxy retries refused connects.
    assert len(failed) <= 3, failed
    after = [o for o in outcomes if o[0] > killed_at[0] + SETTLE_S]
    assert len(after) >= 9 and all(o[1] == 200 and o[3] == "replica-2" for o in after), after
    with httpx.Client(timeout=60) as session:
        for _, _, document, _ in answered:
            assert document is not None
            fetched = session.get(stack.balancer_url + document["zip_url"])
            assert fetched.status_code == 200, (document["id"], fetched.text)
            assert fetched.headers[REPLICA_HEADER] == "replica-2"
            assert _zip_document(fetched.content)["id"] == document["id"]
    assert {o[3] for o in answered if o[0] < killed_at[0]} == {"replica-1", "replica-2"}  # both served before


def test_compose_runs_the_tested_wiring() -> None:
    """compose.yaml: the same balancer config, fed the same variables; replicas on an s3:// store at the object
    store service; only settings the service has; health by /readyz."""
    import yaml

    from samplechop.service.api.settings import Settings

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"replica-1", "replica-2", "balancer", "objectstore"} <= set(services)
    balancer = services["balancer"]
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in balancer["volumes"]
    wiring = balancer["environment"]
    assert {"LB_BIND", "REPLICA_1", "REPLICA_2"} <= set(wiring)  # what the stack fixture sets, by name
    assert [wiring["REPLICA_1"], wiring["REPLICA_2"]] == ["replica-1:8000", "replica-2:8000"]
    assert all(f"${{{name}}}" in HAPROXY_CONFIG.read_text() for name in ("LB_BIND", "REPLICA_1", "REPLICA_2"))
    known = {f"SAMPLECHOP_{name.upper()}" for name in Settings.model_fields}
    for name in ("replica-1", "replica-2"):
        replica = services[name]
        environment = replica["environment"]
        assert {key for key in environment if key.startswith("SAMPLECHOP_")} <= known, name
        assert environment["SAMPLECHOP_STORE_URL"].startswith("s3://")
        endpoint = json.loads(environment["SAMPLECHOP_STORE_OPTIONS"])["endpoint_url"]
        assert endpoint == f"http://objectstore:{services['objectstore']['environment']['MOTO_PORT']}"
        assert "/readyz" in " ".join(replica["healthcheck"]["test"])
        with pytest.MonkeyPatch.context() as patch:  # the values parse as settings, as the replica will read them
            for key, value in environment.items():
                patch.setenv(key, str(value))
            assert Settings().store_options == {"endpoint_url": endpoint}
    if HAPROXY is not None:
        checked = subprocess.run(
            [HAPROXY, "-c", "-f", str(HAPROXY_CONFIG)],
            env={**os.environ, **{key: str(value) for key, value in wiring.items()}},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
