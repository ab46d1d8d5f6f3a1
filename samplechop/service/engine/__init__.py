"""The chopping engine: plain Python over numpy, used by the CLI, the service and the trainer's evaluation."""

from samplechop.service.engine.bars import BarGrid, decode_bars
from samplechop.service.engine.model import DEFAULT_MODEL_PATH, Activations, ChopModel, FrameModel, ModelLoadError
from samplechop.service.engine.params import ChopParams, InvalidParameters
from samplechop.service.engine.pipeline import (
    Analysis,
    AudioDecodeError,
    BarDecoder,
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
from samplechop.service.engine.result import Chop, ChopResult

__all__ = [
    "DEFAULT_MODEL_PATH",
    "Activations",
    "Analysis",
    "AudioDecodeError",
    "BarDecoder",
    "BarGrid",
    "Chop",
    "ChopModel",
    "ChopParams",
    "ChopResult",
    "ChoppedRecord",
    "Chopper",
    "FrameModel",
    "InvalidParameters",
    "ModelLoadError",
    "RecordTooLong",
    "SilentRecord",
    "decode_bars",
    "result_json",
    "slice_files",
    "write_slices",
    "write_zip",
    "zip_bytes",
]
