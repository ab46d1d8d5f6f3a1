"""The chopping engine: plain Python over numpy, used by the CLI, the service and the trainer's evaluation."""

from samplechop.service.engine.bars import BarGrid, decode_bars
from samplechop.service.engine.model import DEFAULT_MODEL_PATH, Activations, ChopModel, FrameModel, ModelLoadError
from samplechop.service.engine.params import ChopParams, InvalidParameters
from samplechop.service.engine.pipeline import (
    Analysis,
    AudioDecodeError,
    BarDecoder,
    Chopper,
    RecordTooLong,
    RecordTooShort,
    SilentRecord,
)
from samplechop.service.engine.result import Chop, ChoppedRecord, ChopResult
from samplechop.service.engine.writers import (
    program_files,
    record_files,
    result_document,
    result_json,
    slice_files,
    write_slices,
    write_zip,
    zip_bytes,
    zip_name,
)

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
    "RecordTooShort",
    "SilentRecord",
    "decode_bars",
    "program_files",
    "record_files",
    "result_document",
    "result_json",
    "slice_files",
    "write_slices",
    "write_zip",
    "zip_bytes",
    "zip_name",
]
