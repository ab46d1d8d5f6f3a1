"""The HTTP service, end to end: the real app with its lifespan run (the model loaded and warmed up), real audio.

Most tests speak ASGI to the app in this process (httpx's ASGI transport, no socket): one app for the module, and
a second over the same results store as another replica. A real uvicorn server runs only where the socket is the
point: a chunked upload cut off at the cap, a declared ``Content-Length`` refused before its body, ``samplechop
serve --workers 2`` (a subprocess sharing the store), and uvicorn refusing to start. Expiry and the store's size cap
are tested with a fake clock in ``test_store.py``, slow clients in ``test_slow_clients.py``, replicas in separate
processes behind a real load balancer on S3 in ``test_scaleout.py``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest
import soundfile as sf
import uvicorn
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from samplechop.service.api.app import create_app
from samplechop.service.api.schemas import ChopDocument
from samplechop.service.api.settings import Settings
from samplechop.service.engine import DEFAULT_MODEL_PATH
from samplechop.service.engine.slices import riff_chunks
from samplechop.shared_features import FEATURE_VERSION
from tests.live_server import Server, free_port, serve_command, shipped_model_path
from tests.synth import beat_record

TRUMPET = Path(__file__).resolve().parents[2] / "shared" / "data" / "listen" / "sorohanro_-_solo-trumpet-06.hq.ogg"
MAX_UPLOAD = 1_500_000
MAX_DURATION_S = 10.0
PROBLEM = "application/problem+json"
READY_TIMEOUT_S = 120.0


# --- apps -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private directory with ``tmp/`` as the temporary directory of the apps (to count leftovers)."""
    root = tmp_path_factory.mktemp("service")
    private_tmp = root / "tmp"
    private_tmp.mkdir()
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(private_tmp)
    os.environ["TMPDIR"] = str(private_tmp)
    yield root
    tempfile.tempdir = saved_tempdir
    if saved_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved_env


@pytest.fixture(scope="module")
def shared_store(workspace: Path) -> Path:
    store = workspace / "store"
    store.mkdir()
    return store


def _settings(store: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "model_path": shipped_model_path(),
        "store_url": str(store),
        "max_upload_bytes": MAX_UPLOAD,
        "max_duration_s": MAX_DURATION_S,
        "worker_threads": 2,
    }
    return Settings(**{**values, **overrides})


class _PortalTransport(httpx.BaseTransport):
    """httpx's ASGI transport for a synchronous client: each request runs on the event loop the app's lifespan runs
    on (a blocking portal's thread), so requests from several threads run there concurrently."""

    def __init__(self, app: FastAPI, portal: BlockingPortal) -> None:
        self.asgi = httpx.ASGITransport(app=app)
        self.portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.portal.call(self._send, request)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        answer = await self.asgi.handle_async_request(request)
        body = await answer.aread()
        return httpx.Response(answer.status_code, headers=answer.headers, stream=httpx.ByteStream(body))


class InProcessClient(httpx.Client):
    """A client of ``app`` in this process (no socket), with the app at hand for tests that look inside it."""

    def __init__(self, app: FastAPI, portal: BlockingPortal) -> None:
        super().__init__(transport=_PortalTransport(app, portal), base_url="http://app", timeout=60.0)
        self.app = app


@contextmanager
def _serving(settings: Settings) -> Iterator[InProcessClient]:
    """The app with its lifespan running, once ``/readyz`` says ready (the model is warmed up in the background)."""
    app = create_app(settings)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
        InProcessClient(app, portal) as session,
    ):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while session.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the app did not become ready"
            time.sleep(0.01)  # polling the app's own warm-up, not waiting for time to pass
        yield session


@pytest.fixture(scope="module")
def settings(shared_store: Path) -> Settings:
    """Replica A's settings: the shared store, small limits, warm-up on (as served)."""
    return _settings(shared_store)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[InProcessClient]:
    """Replica A, in process."""
    with _serving(settings) as session:
        yield session


@pytest.fixture(scope="module")
def replica_b(shared_store: Path) -> Iterator[InProcessClient]:
    """Replica B, in process: its own app, model and store object over the same directory, as a file:// URL."""
    with _serving(_settings(shared_store, store_url=f"file://{shared_store}", warmup=False)) as session:
        yield session


@pytest.fixture(scope="module")
def live(shared_store: Path) -> Iterator[Server]:
    """The app behind a real uvicorn server on loopback (this service's own HTTP protocol), for what only a socket
    shows."""
    server = Server.start(_settings(shared_store, warmup=False))
    yield server
    server.stop()


# --- records --------------------------------------------------------------------------------------------------


def _encode(audio: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def records(workspace: Path) -> dict[str, Path]:
    """Short records on disk: 6-s beats with chords as WAV, FLAC, OGG and MP3, plus the bad ones."""
    folder = workspace / "records"
    folder.mkdir()
    beats = beat_record(6.0, bpm=100.0, seed=3)
    audio, rate = beats.audio, beats.sample_rate
    files = {
        "beats.wav": _encode(audio, rate, "WAV", "PCM_16"),
        "beats.flac": _encode(audio, rate, "FLAC"),
        "beats.ogg": _encode(audio, rate, "OGG", "VORBIS"),
        "beats.mp3": _encode(audio, rate, "MP3", "MPEG_LAYER_III"),
        "mono22k.wav": _encode(audio[::2, 0] * 0.8, 22_050, "WAV", "PCM_24"),
        "silent.wav": _encode(np.zeros((rate * 2, 2), np.float32), rate, "WAV", "PCM_16"),
        "tiny.wav": _encode(np.full((3, 1), 0.5, np.float32), rate, "WAV", "PCM_16"),
        # 12 s at 8 kHz: small on the wire, too long for the 10-s limit
        "long.wav": _encode(beat_record(12.0, rate=8_000, channels=1, seed=4).audio, 8_000, "WAV", "PCM_16"),
        "text.mp3": b"this is not an mp3, only text with a misleading name\n" * 20,
        "empty.wav": b"",
    }
    files["truncated.wav"] = files["beats.wav"][:30]
    files["big.wav"] = _encode(np.tile(audio, (2, 1)), rate, "WAV", "PCM_16")  # ~2.1 MB > MAX_UPLOAD
    if TRUMPET.exists():
        trumpet, trumpet_rate = sf.read(TRUMPET, dtype="float32", always_2d=True)
        files["trumpet.ogg"] = _encode(trumpet[: 5 * trumpet_rate], trumpet_rate, "OGG", "VORBIS")
    paths = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    return paths


def _post(
    client: httpx.Client, path: Path, *, data: dict | None = None, params: dict | None = None, **kw
) -> httpx.Response:
    with path.open("rb") as handle:
        return client.post("/chop", files={"file": (path.name, handle)}, data=data, params=params, **kw)


def _without(document: dict, *keys: str) -> dict:
    return {key: value for key, value in document.items() if key not in keys}


def _assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    if slug is not None:
        assert problem["type"] == f"/problems/{slug}", problem
    return problem


def _cli_document(capsys: pytest.CaptureFixture[str], path: Path, model: Path, *args: str) -> dict:
    from samplechop.service.cli import main

    capsys.readouterr()
    assert main(["chop", str(path), "--format", "json", "--model", str(model), *args]) == 0
    return json.loads(capsys.readouterr().out)


# --- health ---------------------------------------------------------------------------------------------------


def test_healthz_and_readyz(client: InProcessClient, settings: Settings) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    card = json.loads(settings.model_path.with_suffix(".card.json").read_text())
    assert ready.json() == {"status": "ready", "model_id": card["model_id"], "feature_version": FEATURE_VERSION}


def test_not_ready_before_the_model_loads(tmp_path: Path) -> None:
    """Without its lifespan (the model not loaded yet) the app answers 503 problems, yet /healthz is up."""
    app = create_app(Settings(store_url=str(tmp_path)))

    async def probe() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as session:
            assert (await session.get("/healthz")).status_code == 200
            _assert_problem(await session.get("/readyz"), 503, "not-ready")
            response = await session.post("/chop", files={"file": ("a.wav", b"RIFF")})
            _assert_problem(response, 503, "not-ready")
            assert response.headers["retry-after"] == "5"

    asyncio.run(probe())


# --- chopping -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["beats.wav", "trumpet.ogg"])
def test_json_answer_agrees_with_the_cli(
    client: InProcessClient,
    settings: Settings,
    records: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    if name not in records:
        pytest.skip(f"{TRUMPET} is not available")
    path = records[name]
    response = _post(client, path, data={"lambda": "0.5", "top_n": "12", "chops": "6"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["zip_url"] == f"/chops/{document['id']}.zip"
    assert len(document["id"]) >= 22
    expected = _cli_document(capsys, path, settings.model_path, "--lambda", "0.5", "--top-n", "12", "--chops", "6")
    assert _without(document, "id", "zip_url") == _without(expected, "record")
    assert len(document["chops"]) == 6
    # the same parameters as query parameters give the same chops
    again = _post(client, path, params={"lambda": 0.5, "top_n": 12, "chops": 6})
    assert _without(again.json(), "id", "zip_url") == _without(document, "id", "zip_url")
    assert again.json()["id"] != document["id"]


def _zip_entries(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_zip_answer_holds_the_chops(client: InProcessClient, records: dict[str, Path]) -> None:
    path = records["beats.wav"]
    response = _post(client, path, data={"format": "zip", "chops": "5"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    result_id = response.headers["content-location"].removeprefix("/chops/").removesuffix(".zip")
    assert response.headers["content-disposition"] == 'attachment; filename="beats.zip"'  # named after the record
    assert int(response.headers["content-length"]) == len(response.content)
    entries = _zip_entries(response.content)
    document = json.loads(entries.pop("chops.json"))
    assert document["id"] == result_id
    programs = {name: entries.pop(name) for name in ("beats.sfz", "beats.xpm", "beats.mid")}
    assert document["exports"] == list(programs)
    assert (
        sorted(entries) == [chop["file"] for chop in document["chops"]] == [f"beats_{i:02d}.wav" for i in range(1, 6)]
    )
    # the JSON answer for the same record and parameters is the same document
    as_json = _post(client, path, data={"chops": "5"}).json()
    assert _without(as_json, "id", "zip_url") == _without(document, "id", "zip_url")
    # valid WAVs at the record's rate and channels whose lengths add up to the chops' spans
    source = sf.info(path)
    total = 0
    for chop in document["chops"]:
        info = sf.info(io.BytesIO(entries[chop["file"]]))
        assert (info.samplerate, info.channels, info.subtype) == (source.samplerate, source.channels, "PCM_16")
        assert abs(info.frames - (chop["end"] - chop["start"]) * source.samplerate) <= 1
        total += info.frames
    spans = sum(chop["end"] - chop["start"] for chop in document["chops"])
    assert abs(total - spans * source.samplerate) <= len(document["chops"])
    # ...and the stored copy is the same bytes, under the same name
    again = client.get(response.headers["content-location"])
    assert again.status_code == 200
    assert again.content == response.content
    assert again.headers["content-disposition"] == 'attachment; filename="beats.zip"'


def test_hand_placed_points_slices_and_exports(
    client: InProcessClient, settings: Settings, records: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """What the web page does after an edit: the exact points, snapping off, a slice mode and one export; then it
    downloads `zip_url`, which must hold slices starting exactly there and the chosen program."""
    path = records["beats.wav"]
    points = "0.123457,1.5,2.000023,4.75"
    fields = {"points": points, "snap": "off", "mode": "one-shot", "export": "xpm", "bit_depth": "24"}
    response = _post(client, path, data=fields)
    assert response.status_code == 200, response.text
    document = response.json()
    rate = document["sample_rate"]
    expected = [round(float(p) * rate) for p in points.split(",")]
    assert [round(chop["start"] * rate) for chop in document["chops"]] == expected
    assert all(chop["mode"] == "one-shot" for chop in document["chops"])
    download = client.get(document["zip_url"])
    assert download.headers["content-disposition"] == 'attachment; filename="beats.zip"'
    entries = _zip_entries(download.content)
    assert sorted(entries) == sorted([*(c["file"] for c in document["chops"]), "beats.xpm", "chops.json"])
    for chop in document["chops"]:
        info = sf.info(io.BytesIO(entries[chop["file"]]))
        assert info.subtype == "PCM_24"
        assert info.frames == round(chop["end"] * rate) - round(chop["start"] * rate)
        # the sampler chunks survive the compact store (FLAC holds only the samples)
        chunks = {identifier for identifier, _, _ in riff_chunks(entries[chop["file"]])}
        assert {b"smpl", b"acid"} <= chunks
    # the CLI makes the same document from the same options
    expected_document = _cli_document(
        capsys,
        path,
        settings.model_path,
        "--points",
        points,
        "--mode",
        "one-shot",
        "--export",
        "xpm",
        "--bit-depth",
        "24",
    )
    assert _without(document, "id", "zip_url") == _without(expected_document, "record")


@pytest.mark.parametrize(
    ("values", "detail"),
    [
        ({"points": "1.0,7.5"}, "7.500000 s is not inside the record"),
        ({"points": "2,1"}, "increasing order"),
        ({"points": "1,abc"}, "separated by commas"),
        ({"mode": "loops"}, "mode"),
        ({"export": "wav"}, "export"),
        ({"bars": "3"}, "bars must be one of 1, 2, 4"),
    ],
)
def test_bad_points_and_choices_are_422(
    client: InProcessClient, records: dict[str, Path], values: dict[str, str], detail: str
) -> None:
    problem = _assert_problem(_post(client, records["beats.wav"], data=values), 422, "invalid-parameters")
    assert detail in problem["detail"]


def test_accept_header_asks_for_the_zip(client: InProcessClient, records: dict[str, Path]) -> None:
    response = _post(client, records["beats.wav"], headers={"Accept": "application/zip"})
    assert response.headers["content-type"] == "application/zip"
    assert "chops.json" in _zip_entries(response.content)
    explicit = _post(client, records["beats.wav"], params={"format": "json"}, headers={"Accept": "application/zip"})
    assert explicit.headers["content-type"] == "application/json"


def test_get_by_id_returns_the_same_bytes(client: InProcessClient, records: dict[str, Path]) -> None:
    document = _post(client, records["beats.wav"]).json()
    first = client.get(document["zip_url"])
    second = client.get(document["zip_url"])
    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"] == "application/zip"
    assert "attachment" in first.headers["content-disposition"]
    assert first.content == second.content
    stored = json.loads(_zip_entries(first.content)["chops.json"])
    assert stored == document


def test_the_zip_answer_is_not_read_back_from_the_store(
    client: InProcessClient, records: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST renders its zip from the compact result it has just stored; only GET reads the store."""
    store = client.app.state.store
    opened: list[str] = []

    def open_and_count(result_id: str) -> object:
        opened.append(result_id)
        return type(store).open(store, result_id)

    monkeypatch.setattr(store, "open", open_and_count)
    answer = _post(client, records["beats.wav"], data={"format": "zip", "chops": "4"})
    assert answer.status_code == 200, answer.text
    assert opened == []
    fetched = client.get(answer.headers["content-location"])
    assert opened == [answer.headers["etag"].strip('"')]
    assert fetched.content == answer.content


@pytest.mark.parametrize("name", ["beats.flac", "beats.ogg", "beats.mp3", "mono22k.wav"])
def test_every_codec_is_chopped(client: InProcessClient, records: dict[str, Path], name: str) -> None:
    response = _post(client, records[name], data={"chops": "4"})
    assert response.status_code == 200, response.text
    document = response.json()
    assert len(document["chops"]) == 4
    assert abs(document["duration"] - 6.0) < 0.1


def test_replicas_sharing_a_store_serve_each_others_ids(
    client: InProcessClient, replica_b: InProcessClient, records: dict[str, Path]
) -> None:
    from_a = _post(client, records["beats.wav"]).json()
    from_b = _post(replica_b, records["beats.wav"]).json()
    for document, owner, other in ((from_a, client, replica_b), (from_b, replica_b, client)):
        own = owner.get(document["zip_url"])
        theirs = other.get(document["zip_url"])
        assert own.status_code == theirs.status_code == 200
        assert own.content == theirs.content


def test_concurrent_requests(client: InProcessClient, records: dict[str, Path]) -> None:
    data = records["beats.wav"].read_bytes()

    def chop(_: int) -> httpx.Response:
        return client.post("/chop", files={"file": ("beats.wav", data)})

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(chop, range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert len({r.json()["id"] for r in responses}) == 4
    assert len({json.dumps(_without(r.json(), "id", "zip_url")) for r in responses}) == 1


# --- ids ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged",
    [
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "..",
        "short",
        "A" * 23,
        "AAAAAAAAAAAAAAAAAAAAA%2F",
        # well-formed ids no store issued (fixed, so every pytest-xdist worker collects the same tests)
        "0S0_W__DnXdngsdl10t-1Q",
        "JsIv7nynTAxJNMdyRkiuQA",
    ],
)
def test_unknown_and_forged_ids_are_404(client: InProcessClient, forged: str) -> None:
    response = client.get(f"/chops/{forged}.zip")
    _assert_problem(response, 404)


def test_unknown_routes_are_problems(client: InProcessClient) -> None:
    _assert_problem(client.get("/nowhere"), 404)
    _assert_problem(client.get("/chop"), 405)


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "slug"),
    [
        ("truncated.wav", 415, "not-audio"),
        ("text.mp3", 415, "not-audio"),
        ("empty.wav", 415, "not-audio"),
        ("big.wav", 413, "upload-too-large"),
        ("silent.wav", 422, "silent-record"),
        ("tiny.wav", 422, "record-too-short"),
        ("long.wav", 422, "record-too-long"),
    ],
)
def test_bad_records_are_problems(
    client: InProcessClient, records: dict[str, Path], name: str, status: int, slug: str
) -> None:
    problem = _assert_problem(_post(client, records[name]), status, slug)
    assert problem["instance"] == "/chop"
    assert problem["detail"]


def test_upload_cap_holds_without_content_length(live: Server, records: dict[str, Path]) -> None:
    """A chunked body (no Content-Length) is cut off at the cap all the same, and the answer reaches a client still
    sending (uvicorn's chunked framing and this service's lingering close: a real socket)."""
    data = records["big.wav"].read_bytes()
    boundary = "cap-test"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(
        live.url + "/chop",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=60.0,
    )
    assert "content-length" not in response.request.headers
    problem = _assert_problem(response, 413, "upload-too-large")
    assert problem["max_upload_bytes"] == MAX_UPLOAD


def test_declared_length_over_the_cap_is_refused_at_once(live: Server) -> None:
    """The answer comes before the body: the client sends only the headers (a raw socket)."""
    port = int(live.url.rsplit(":", 1)[1])
    request = (
        f"POST /chop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {MAX_UPLOAD + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while b"}" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["type"] == "/problems/upload-too-large"


def test_malformed_requests_are_problems(client: InProcessClient, records: dict[str, Path]) -> None:
    url = "/chop"
    wav = records["beats.wav"].read_bytes()
    _assert_problem(
        client.post(url, content=wav, headers={"Content-Type": "audio/wav"}), 415, "unsupported-request-type"
    )
    missing = _assert_problem(client.post(url, files={"record": ("x", b"")}, data={"chops": "4"}), 422)
    assert missing["errors"][0]["loc"] == ["body", "file"]
    broken = client.post(
        url,
        content=b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    _assert_problem(broken, 400, "malformed-request")


@pytest.mark.parametrize(
    ("where", "values"),
    [
        ("form", {"lambda": "1.5"}),
        ("query", {"lambda": "-0.1"}),
        ("form", {"chops": "0"}),
        ("form", {"chops": "many"}),
        ("form", {"chops": "9", "top_n": "4"}),
        ("query", {"chops": "9", "top_n": "4"}),
        ("form", {"bit_depth": "12"}),
        ("query", {"format": "xml"}),
        ("query", {"max_length": "0"}),
    ],
)
def test_bad_parameters_are_422(
    client: InProcessClient, records: dict[str, Path], where: str, values: dict[str, str]
) -> None:
    kwargs = {"data": values} if where == "form" else {"params": values}
    problem = _assert_problem(_post(client, records["beats.wav"], **kwargs), 422, "invalid-parameters")
    assert problem["detail"]


def test_no_temporary_files_are_left_behind(
    workspace: Path, shared_store: Path, client: InProcessClient, records: dict[str, Path]
) -> None:
    private_tmp = workspace / "tmp"
    before = sorted(private_tmp.rglob("*"))
    stored_before = set(shared_store.iterdir())
    for name in ("beats.wav", "beats.ogg", "truncated.wav", "text.mp3", "big.wav", "silent.wav", "long.wav"):
        _post(client, records[name])
        _post(client, records[name], data={"format": "zip"})
    _post(client, records["beats.wav"], data={"chops": "0"})
    assert sorted(private_tmp.rglob("*")) == before
    new = set(shared_store.iterdir()) - stored_before
    assert len(new) == 4  # two records, each as JSON and as zip
    assert all(path.suffix == ".chop" and not path.name.startswith(".") for path in new)


# --- startup --------------------------------------------------------------------------------------------------


def _mismatched_model(folder: Path) -> Path:
    model = folder / "other.onnx"
    shutil.copyfile(shipped_model_path(), model)
    card = json.loads(shipped_model_path().with_suffix(".card.json").read_text())
    card["feature_spec"] = {**card["feature_spec"], "version": "0-old"}  # otherwise valid: only the version differs
    model.with_suffix(".card.json").write_text(json.dumps(card))
    return model


def test_a_model_for_another_feature_spec_refuses_to_start(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _mismatched_model(tmp_path)
    settings = Settings(model_path=model, store_url=str(tmp_path / "store"))
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, lifespan="on", log_config=None)
    server = uvicorn.Server(config)
    with caplog.at_level("CRITICAL", logger="samplechop.api"), pytest.raises(SystemExit):
        server.run()  # uvicorn exits with status 3: startup failed
    assert not server.started
    assert "refusing to start" in caplog.text
    assert "feature spec" in caplog.text
    # `samplechop serve` says so in one line and exits 2 before starting uvicorn
    from samplechop.service.cli import main

    monkeypatch.setenv("SAMPLECHOP_MODEL_PATH", str(model))
    assert main(["serve", "--port", "0"]) == 2
    assert "feature spec" in capsys.readouterr().err


def test_samplechop_serve_with_two_workers(
    workspace: Path, shared_store: Path, client: InProcessClient, records: dict[str, Path]
) -> None:
    """The CLI serves the app factory with several processes; they share the store with the other replicas (here
    the in-process one: other processes, the same store directory)."""
    made_by_a = _post(client, records["beats.wav"]).json()
    private_tmp = workspace / "serve-tmp"
    private_tmp.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "TMPDIR": str(private_tmp),
        "SAMPLECHOP_STORE_URL": str(shared_store),
        "SAMPLECHOP_MODEL_PATH": str(shipped_model_path()),
        "SAMPLECHOP_WORKER_THREADS": "1",
        "SAMPLECHOP_WARMUP": "false",  # warm-up is tested above; here it would only double the JIT time
    }
    command = serve_command(port, "--workers", "2")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        ready_in_a_row = 0
        while ready_in_a_row < 6:  # every worker answers: each connection may go to either
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                ready_in_a_row = ready_in_a_row + 1 if httpx.get(url + "/readyz").status_code == 200 else 0
            except httpx.TransportError:
                ready_in_a_row = 0
            assert time.monotonic() < deadline, "samplechop serve did not become ready"
            time.sleep(0.1)
        # (onnxruntime leaves a `.ses` file in the temp dir when imported: at startup, not per request)
        at_startup = sorted(private_tmp.rglob("*"))
        with httpx.Client(timeout=60.0) as session:
            assert session.get(url + made_by_a["zip_url"]).content == client.get(made_by_a["zip_url"]).content
            with records["beats.wav"].open("rb") as handle:
                response = session.post(url + "/chop", files={"file": ("beats.wav", handle)})
            assert response.status_code == 200
            assert client.get(response.json()["zip_url"]).status_code == 200
            _assert_problem(session.post(url + "/chop", files={"file": ("x.wav", b"RIFF....WAVE")}), 415, "not-audio")
        assert sorted(private_tmp.rglob("*")) == at_startup
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_default_store_is_under_the_temp_dir() -> None:
    assert Settings().store_url == str(Path(tempfile.gettempdir()) / "samplechop-results")
    assert Settings().model_path == DEFAULT_MODEL_PATH


# --- headers, docs, the contract, concurrent uploads ----------------------------------------------------------


@asynccontextmanager
async def _running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan run (model loaded), and an async client speaking ASGI to it: for a request whose
    body the test holds back (InProcessClient reads a body whole before the app sees it)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        with anyio.fail_after(60):
            while app.state.service is None:
                await anyio.sleep(0.01)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app", timeout=60.0) as session:
            yield app, session


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "part-boundary") -> tuple[bytes, dict]:
    """A multipart body written by hand: (name, filename or None, data) per part."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_security_headers_on_every_answer(client: InProcessClient) -> None:
    answers = [
        client.get("/"),
        client.get("/static/app.js"),
        client.get("/healthz"),
        client.get("/openapi.json"),
        client.get("/nowhere"),
        client.post("/healthz"),
        client.post("/chop", files={"file": ("x.wav", b"RIFF....WAVE")}),
        client.get(f"/chops/{secrets.token_urlsafe(16)}.zip"),
        client.get("/docs"),
    ]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy and "http" not in policy


def test_docs_page_works_offline(client: InProcessClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html and "http://" not in html and "https://" not in html
    for documented in ("/chop", "/chops/{result_id}.zip", "/readyz", "max_length", "SAMPLECHOP_MAX_UPLOAD"):
        assert documented in html
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in page.headers["content-security-policy"]
    assert client.get("/redoc").status_code == 404  # it would load its script from a CDN


def test_problem_instance_is_cut_short(client: InProcessClient) -> None:
    answer = client.get("/" + "a" * 60_000)  # httpx refuses URLs over 64 KB
    problem = _assert_problem(answer, 404)
    assert len(problem["instance"]) <= 200 and problem["instance"].endswith("…")
    assert len(answer.content) < 1024


def test_the_contract_and_the_behaviour_agree(client: InProcessClient, records: dict[str, Path]) -> None:
    """What the issue found drifting: a form field overriding a bad query value, blank optional fields, a `file`
    part without a filename, the documented form limits."""
    wav = records["beats.wav"].read_bytes()
    overridden = client.post(
        "/chop",
        params={"lambda": "7", "chops": "x"},
        data={"lambda": "0.5", "chops": "4"},
        files={"file": ("b.wav", wav)},
    )
    assert overridden.status_code == 200, overridden.text
    document = ChopDocument.model_validate(overridden.json())
    assert document.params["lambda"] == 0.5 and len(document.chops) == 4
    blank = client.post("/chop", data={"max_length": "", "format": "", "chops": "4"}, files={"file": ("b.wav", wav)})
    assert blank.status_code == 200 and blank.headers["content-type"] == "application/json"
    assert blank.json()["params"]["max_length_s"] is None
    body, headers = _multipart([("chops", None, b"4"), ("file", None, wav)])
    nameless = client.post("/chop", content=body, headers=headers)
    assert nameless.status_code == 200, nameless.text
    assert len(nameless.json()["chops"]) == 4
    # 32 other parts are fine (one a file that is skipped unread), the 33rd is not
    parts = [(f"f{i}", None, b"1") for i in range(31)] + [("extra", "x.bin", bytes(5000))]
    body, headers = _multipart([*parts, ("chops", None, b"4"), ("file", "b.wav", wav)][1:])
    assert client.post("/chop", content=body, headers=headers).status_code == 200
    body, headers = _multipart([*parts, ("chops", None, b"4"), ("file", "b.wav", wav)])
    too_many = _assert_problem(client.post("/chop", content=body, headers=headers), 400)
    assert "32" in too_many["detail"]
    body, headers = _multipart([("chops", None, b"4" * 2049), ("file", "b.wav", wav)])
    long_field = _assert_problem(client.post("/chop", content=body, headers=headers), 400)
    assert "2048" in long_field["detail"]


def test_the_upload_cap_answers_503_with_retry_after(tmp_path: Path, records: dict[str, Path]) -> None:
    wav = records["beats.wav"].read_bytes()
    body, headers = _multipart([("chops", None, b"4"), ("file", "b.wav", wav)])

    async def probe() -> None:
        async with _running(_settings(tmp_path, warmup=False, max_concurrent_uploads=1)) as (app, session):
            held = anyio.Event()
            first_answer: list[httpx.Response] = []

            async def slow_body() -> AsyncIterator[bytes]:
                yield body[:1000]
                await held.wait()
                yield body[1000:]

            async def slow_upload() -> None:
                first_answer.append(await session.post("/chop", content=slow_body(), headers=headers))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(slow_upload)
                with anyio.fail_after(10):
                    while app.state.upload_slots.in_use == 0:
                        await anyio.sleep(0.005)
                refused = await session.post("/chop", content=body, headers=headers)
                problem = _assert_problem(refused, 503, "busy")
                assert refused.headers["retry-after"] == "2" and refused.headers["connection"] == "close"
                assert problem["max_concurrent_uploads"] == 1
                assert (await session.get("/healthz")).status_code == 200  # other routes are not capped
                held.set()
            assert first_answer[0].status_code == 200
            assert app.state.upload_slots.in_use == 0
            assert (await session.post("/chop", content=body, headers=headers)).status_code == 200

    asyncio.run(probe())


def test_audio_beyond_the_analysis_limits_is_422(client: InProcessClient) -> None:
    from samplechop.service.api.problems import AudioLimitError

    if AudioLimitError is None:
        pytest.skip("this decoder has no AudioLimitError yet")
    forty_channels = _encode(np.zeros((4410, 40), np.float32) + 0.1, 44_100, "WAV", "PCM_16")
    answer = client.post("/chop", files={"file": ("wide.wav", forty_channels)})
    _assert_problem(answer, 422, "beyond-analysis-limits")


def test_stored_results_name_their_download_safely(tmp_path: Path) -> None:
    from samplechop.service.api.results import PackedResult, pack_result

    named = PackedResult(io.BytesIO(pack_result([("a.txt", b"x")], created=0.0, download_name="vibe-ace.zip")))
    assert named.manifest.download_name == "vibe-ace.zip"
    older = PackedResult(io.BytesIO(pack_result([("a.txt", b"x")], created=0.0)))
    assert older.manifest.download_name is None  # served as samplechop-<id>.zip, as before
    for unsafe in ('x".zip', "../x.zip", "x.zip\r\nSet-Cookie: a=b", "X.zip"):
        with pytest.raises(ValueError, match="safe download name"):
            pack_result([("a.txt", b"x")], created=0.0, download_name=unsafe)
