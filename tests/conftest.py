"""Shared fixtures: short synthetic records on disk and the shipped model loaded once."""

from __future__ import annotations

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
