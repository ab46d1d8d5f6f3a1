"""The chopping engine: plain Python over numpy, used by the CLI, the service and the trainer's evaluation."""

from service.engine.model import DEFAULT_MODEL_PATH, ChopModel, ModelLoadError
from service.engine.params import ChopParams, InvalidParameters
from service.engine.pipeline import (
    AudioDecodeError,
    ChoppedRecord,
    Chopper,
    RecordTooLong,
    SilentRecord,
    result_json,
    slice_files,
    write_slices,
    write_zip,
    zip_bytes,
)
from service.engine.result import Chop, ChopResult

__all__ = [
    "DEFAULT_MODEL_PATH",
    "AudioDecodeError",
    "Chop",
    "ChopModel",
    "ChopParams",
    "ChopResult",
    "ChoppedRecord",
    "Chopper",
    "InvalidParameters",
    "ModelLoadError",
    "RecordTooLong",
    "SilentRecord",
    "result_json",
    "slice_files",
    "write_slices",
    "write_zip",
    "zip_bytes",
]
