"""Shared fixtures (short synthetic records on disk, the shipped model loaded once) and the test order."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.synth import SynthRecord, beat_record, write_record

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def beat_synth() -> SynthRecord:
    return beat_record(8.0, bpm=96.0, seed=1)


@pytest.fixture(scope="session")
def beat_wav(tmp_path_factory: pytest.TempPathFactory, beat_synth: SynthRecord) -> Path:
    return write_record(beat_synth, tmp_path_factory.mktemp("records") / "beats.wav")


@pytest.fixture(scope="session")
def chopper():
    from samplechop.service.engine import ChopModel, Chopper

    return Chopper(ChopModel())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _give_each_item_its_own_node_id(items)
    _slow_files_first(items)


def _give_each_item_its_own_node_id(items: list[pytest.Item]) -> None:
    """schemathesis 4.32 under pytest 9 gives every operation's item of ``schema.parametrize()`` the test function's
    node id (pytest 9 builds it from ``originalname``). pytest-xdist schedules by node id, so of the four operations
    in tests/test_contract.py only the first ran on a worker. Each such item gets its own name as its id."""
    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.parent is not None and not item.nodeid.endswith(f"::{item.name}"):
            item._id = item.parent.id.child(item.name)
    repeated = [nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1]
    assert not repeated, f"two tests share a node id, pytest-xdist would run only one of them: {repeated}"


def _slow_files_first(items: list[pytest.Item]) -> None:
    """Files with the most ``slow`` tests first, otherwise in collection order (a stable sort keeps each file's own
    order). pyproject runs the suite on two workers a file at a time (``-n 2 --dist loadfile``); a worker takes the
    next file as it runs low, so starting the long files (the browser, the trainer, the contract) first is what
    lets both workers end together instead of one finishing a long file alone."""
    slow_per_file = Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow_per_file[item.path])
