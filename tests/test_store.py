"""The results store and its compact results, in process: a fake clock instead of sleeping, real files and FLAC.

What must hold: the zip rendered from a compact result holds exactly the slices the engine made; it is the same
bytes every time; a JSON request stores well under the zip's size; results expire on the sweeper's timer without
any later request; and the store stays under its size cap, oldest removed first.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import anyio
import numpy as np
import pytest
import soundfile as sf

from samplechop.service.api.app import sweep_forever
from samplechop.service.api.results import CorruptResult, PackedResult, pack_result, render_to_bytes
from samplechop.service.api.store import HIGH_WATER, SUFFIX, ResultStore, new_id
from samplechop.service.engine import ChopParams, result_json, slice_files, zip_bytes
from tests.synth import beat_record


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _wav(audio: np.ndarray, rate: int, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def chopped(chopper):
    """A real record chopped by the engine: (its slices as (name, WAV bytes), its document, its engine zip)."""
    synth = beat_record(12.0, bpm=100.0, seed=5)
    buffer = io.BytesIO()
    sf.write(buffer, synth.audio, synth.sample_rate, format="WAV", subtype="PCM_16")
    record = chopper.chop(buffer.getvalue(), ChopParams(chops=6))
    document = result_json(record, {"id": "x" * 22, "zip_url": "/chops/x.zip"})
    return list(slice_files(record)), document, zip_bytes(record, {"id": "x" * 22})


# --- compact results ------------------------------------------------------------------------------------------


def test_rendered_zip_holds_exactly_the_engines_slices(chopped) -> None:
    slices, document, _ = chopped
    packed = pack_result([*slices, ("chops.json", document.encode())], created=1_700_000_000.0)
    rendered = render_to_bytes(packed)
    with zipfile.ZipFile(io.BytesIO(rendered)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [name for name, _ in slices] + ["chops.json"]
        for name, wav in slices:
            assert archive.read(name) == wav  # bit for bit: header and samples
        assert json.loads(archive.read("chops.json")) == json.loads(document)
        assert archive.getinfo("chops.json").date_time == (2023, 11, 14, 22, 13, 20)
    opened = PackedResult(io.BytesIO(packed))
    assert opened.zip_bytes == len(rendered)  # the Content-Length announced before rendering
    opened.close()
    assert render_to_bytes(packed) == rendered  # the same bytes on every render, on every replica


def test_a_json_request_stores_far_less_than_its_zip(chopped) -> None:
    slices, document, engine_zip = chopped
    packed = pack_result([*slices, ("chops.json", document.encode())], created=0.0)
    # FLAC of a drum-and-chord record: measured 21 % of the zip; real music 33 % (docs/service.md)
    assert len(packed) < 0.5 * len(engine_zip), (len(packed), len(engine_zip))


def test_what_flac_cannot_hold_is_kept_as_is() -> None:
    rng = np.random.default_rng(0)
    float_wav = _wav(rng.uniform(-0.5, 0.5, (2000, 2)).astype(np.float32), 44_100, "FLOAT")
    many_channels = _wav(rng.uniform(-0.5, 0.5, (2000, 10)).astype(np.float32), 44_100, "PCM_16")
    pcm24 = _wav(rng.uniform(-0.5, 0.5, (2000, 1)).astype(np.float32), 96_000, "PCM_24")
    files = [("float.wav", float_wav), ("ten.wav", many_channels), ("hi.wav", pcm24), ("notes.txt", b"hello")]
    packed = pack_result(files, created=0.0)
    manifest = PackedResult(io.BytesIO(packed)).manifest
    assert [member.codec for member in manifest.members] == ["raw", "raw", "flac", "raw"]
    with zipfile.ZipFile(io.BytesIO(render_to_bytes(packed))) as archive:
        assert [archive.read(name) for name, _ in files] == [data for _, data in files]


def test_a_damaged_result_is_refused_not_served() -> None:
    wav = _wav(np.linspace(-0.5, 0.5, 4000, dtype=np.float32)[:, None], 44_100, "PCM_16")
    packed = pack_result([("a.wav", wav)], created=0.0)
    manifest_at = packed.index(b'"crc32": ') + len(b'"crc32": ')
    damaged = (
        packed[:manifest_at]
        + (b"1" if packed[manifest_at : manifest_at + 1] != b"1" else b"2")
        + packed[manifest_at + 1 :]
    )
    with pytest.raises(CorruptResult):
        render_to_bytes(damaged)
    with pytest.raises(CorruptResult):
        PackedResult(io.BytesIO(b"not a zip at all"))


# --- expiry and the size cap ----------------------------------------------------------------------------------


def _age(store_dir: Path, result_id: str, modified: float) -> None:
    os.utime(store_dir / f"{result_id}{SUFFIX}", (modified, modified))


def test_results_expire_on_the_sweepers_timer(tmp_path: Path) -> None:
    clock = Clock()
    store = ResultStore(str(tmp_path), ttl_s=60.0, clock=clock)
    old, fresh = new_id(), new_id()
    store.put(old, b"old result")
    store.put(fresh, b"fresh result")
    _age(tmp_path, old, clock.now - 61.0)
    _age(tmp_path, fresh, clock.now - 59.0)
    assert store.read(fresh) == b"fresh result"
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            clock.now += 2.0  # now the fresh one is 61 s old too
        if len(sleeps) == 3:
            raise anyio.get_cancelled_exc_class()()

    async def run() -> None:
        with pytest.raises(anyio.get_cancelled_exc_class()):
            await sweep_forever(store, 30.0, sleep)

    anyio.run(run)
    assert sleeps == [30.0, 30.0, 30.0]  # swept at start, then every interval, with no request in between
    assert list(tmp_path.iterdir()) == []
    assert store.read(old) is None and store.read(fresh) is None


def test_an_expired_result_is_gone_even_before_a_sweep(tmp_path: Path) -> None:
    clock = Clock()
    store = ResultStore(str(tmp_path), ttl_s=60.0, clock=clock)
    result_id = new_id()
    store.put(result_id, b"data")
    _age(tmp_path, result_id, clock.now - 60.5)
    assert store.open(result_id) is None
    assert not (tmp_path / f"{result_id}{SUFFIX}").exists()


def test_the_size_cap_removes_the_oldest_first(tmp_path: Path) -> None:
    clock = Clock()
    store = ResultStore(str(tmp_path), ttl_s=3600.0, max_bytes=10_000, clock=clock)
    ids = [new_id() for _ in range(8)]
    for age, result_id in enumerate(ids):
        store.put(result_id, bytes(1000))
        _age(tmp_path, result_id, clock.now - 100.0 + age)  # ids[0] oldest
    swept = store.sweep()
    assert swept is not None and swept.evicted == 0 and swept.total_bytes == 8000  # under 90 % of the cap
    # three more: the second passes 90 % of the cap → that write itself sweeps, oldest first, down to 80 %
    for result_id in [new_id() for _ in range(3)]:
        store.put(result_id, bytes(1000))
    remaining = sorted(path.name for path in tmp_path.iterdir())
    total = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert total <= HIGH_WATER * 10_000 and len(remaining) == 9
    assert f"{ids[0]}{SUFFIX}" not in remaining and f"{ids[1]}{SUFFIX}" not in remaining
    assert f"{ids[-1]}{SUFFIX}" in remaining


def test_abandoned_partial_writes_are_swept(tmp_path: Path) -> None:
    clock = Clock()
    store = ResultStore(str(tmp_path), ttl_s=60.0, clock=clock)
    partial = tmp_path / ".partial-abandoned"
    partial.write_bytes(b"half")
    os.utime(partial, (clock.now - 7200.0, clock.now - 7200.0))
    unrelated = tmp_path / "README"
    unrelated.write_text("not ours")
    os.utime(unrelated, (clock.now - 7200.0, clock.now - 7200.0))
    swept = store.sweep()
    assert swept is not None and swept.expired == 1
    assert [path.name for path in tmp_path.iterdir()] == ["README"]


def test_any_fsspec_filesystem_works(chopped) -> None:
    slices, document, _ = chopped
    store = ResultStore(f"memory://samplechop-test-{new_id()}", ttl_s=60.0, max_bytes=1 << 30)
    assert store.atomic_put
    result_id = new_id()
    packed = pack_result([*slices, ("chops.json", document.encode())], created=store.clock())
    store.put(result_id, packed)
    assert store.read(result_id) == packed
    assert store.read(new_id()) is None
    assert store.read("../../etc/passwd") is None
    swept = store.sweep()
    assert swept is not None and swept.total_bytes == len(packed)
