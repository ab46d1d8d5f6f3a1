"""``samplechop``: chop records from the command line, or run the HTTP service.

Bad input ends the program with exit status 2 and one readable line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# What folder mode picks up: the suffixes of the containers the decoder accepts (shared_features.audio).
AUDIO_SUFFIXES = {
    *(".wav", ".wave", ".bwf", ".w64", ".rf64"),
    *(".aif", ".aiff", ".aifc"),
    *(".flac", ".ogg", ".oga", ".opus", ".mp3"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samplechop", description="Chop a record into sampler pads.")
    commands = parser.add_subparsers(dest="command", required=True)

    chop = commands.add_parser("chop", help="chop a record (or every record in a folder)")
    chop.add_argument("record", type=Path, help="an audio file (WAV, AIFF, FLAC, OGG, MP3) or a folder of them")
    chop.add_argument("--chops", type=int, default=8, help="how many chops to make (default 8)")
    chop.add_argument("--top-n", type=int, default=16, help="candidates considered before diversification (16)")
    chop.add_argument("--lambda", dest="diversity", type=float, default=0.999, help="diversity weight 0..1 (0.999)")
    chop.add_argument("--threshold", type=float, default=0.7, help="candidate probability threshold (0.7)")
    chop.add_argument("--min-distance", type=float, default=0.25, help="seconds between chops at least (0.25)")
    chop.add_argument("--max-length", type=float, default=None, help="longest slice in seconds (default: none)")
    chop.add_argument("--bit-depth", type=int, choices=(16, 24), default=16, help="WAV bit depth of slices")
    chop.add_argument("--format", choices=("json", "text"), default="text", help="what to print (text)")
    chop.add_argument("--out", type=Path, default=None, help="write slices and chops.json here")
    chop.add_argument("--model", type=Path, default=None, help="an ONNX model (default: the shipped one)")

    serve = commands.add_parser(
        "serve",
        help="run the HTTP service",
        description="Run the HTTP service with uvicorn. Other settings come from SAMPLECHOP_* environment "
        "variables (model, store, limits): see docs/service.md.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    serve.add_argument(
        "--workers", type=int, default=None, help="uvicorn worker processes (default: SAMPLECHOP_WORKERS or 1)"
    )
    return parser


def _records(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    return [path]


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Silence C libraries' own stderr chatter (mpg123 prints "Note: ..." on non-MP3 data) while decoding.

    Bad input must end in exactly one readable line, ours; Python-level messages are unaffected outside.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _text_summary(name: str, document: dict) -> str:
    lines = [f"{name}: {document['duration']:.2f} s, {len(document['chops'])} chops (model {document['model_id']})"]
    for chop in document["chops"]:
        lines.append(f"  {chop['index']:>2}  {chop['start']:8.3f} → {chop['end']:8.3f} s  p={chop['probability']:.3f}")
    return "\n".join(lines)


def _one_line(error: BaseException) -> str:
    """The error as one line: OS errors as "reason: path", everything else its message with whitespace folded."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return " ".join(str(error).split()) or type(error).__name__


def _progress(records: list[Path]) -> tuple[Iterable[Path], Callable[[str], None]]:
    """The records to iterate and how to print a line beside them: a tqdm bar for a folder, plain for one file.

    tqdm is imported only for folders: one record needs no bar, and its import is ~40 ms of a one-second CLI run.
    """
    if len(records) <= 1:
        return records, lambda line: print(line, file=sys.stderr)
    from tqdm import tqdm

    def say(line: str) -> None:
        tqdm.write(line, file=sys.stderr)

    return tqdm(records, desc="chopping", unit="record", file=sys.stderr), say


def _chop(args: argparse.Namespace) -> int:
    # Imported here, not at module level: `samplechop --help` and argument errors answer without loading numpy,
    # scipy or onnxruntime. The model (one onnxruntime session) is loaded once for all records, and nothing is
    # warmed up: a CLI run pays only for the records it chops.
    from service.engine import DEFAULT_MODEL_PATH, ChopModel, ChopParams, Chopper, result_json, write_slices

    params = ChopParams(
        chops=args.chops,
        top_n=args.top_n,
        diversity=args.diversity,
        threshold=args.threshold,
        min_distance_s=args.min_distance,
        max_length_s=args.max_length,
        bit_depth=args.bit_depth,
    )
    if not args.record.exists():
        raise FileNotFoundError(f"no such file or folder: {args.record}")
    records = _records(args.record)
    if not records:
        raise FileNotFoundError(f"no audio files in {args.record}")
    chopper = Chopper(ChopModel(args.model or DEFAULT_MODEL_PATH))
    many = len(records) > 1
    documents = []
    status = 0
    iterated, say = _progress(records)
    for record in iterated:
        try:
            with _native_stderr_silenced():
                chopped = chopper.chop(record, params)
                if args.out is not None:  # slices are decoded from the record here too
                    write_slices(chopped, args.out / record.stem if many else args.out)
        except _bad_input() as error:
            # One line per bad record; in a folder the others are still chopped, and the exit status says so.
            say(f"samplechop: {f'{record}: ' if many else ''}{_one_line(error)}")
            status = max(status, 2)
            continue
        document = json.loads(result_json(chopped))
        document["record"] = str(record)
        documents.append(document)
        if args.format == "text":
            print(_text_summary(record.name, document))
    if args.format == "json" and documents:
        print(json.dumps(documents if many else documents[0], indent=2))
    return status


def _bad_input() -> tuple[type[BaseException], ...]:
    """Errors that mean "this record cannot be chopped" (exit status 2), not a fault of the program."""
    from service.engine import AudioDecodeError, RecordTooLong, SilentRecord
    from shared_features.audio import AudioLimitError

    return (AudioDecodeError, AudioLimitError, RecordTooLong, SilentRecord, OSError)


def _serve(args: argparse.Namespace) -> int:
    from service.api.server import run

    run(host=args.host, port=args.port, workers=args.workers)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from service.engine import InvalidParameters, ModelLoadError

    try:
        return _chop(args) if args.command == "chop" else _serve(args)
    except (*_bad_input(), InvalidParameters, ModelLoadError) as error:
        print(f"samplechop: {_one_line(error)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("samplechop: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a fault of the program, not of the input: still one line, and status 1
        print(f"samplechop: internal error ({type(error).__name__}): {_one_line(error)}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
