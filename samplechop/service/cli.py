"""``samplechop``: chop records from the command line, or run the HTTP service.

The chop options are made from the parameter table (:mod:`samplechop.service.parameters`): one ``--name`` per
parameter, with its help, range and default, parsed by the same rules as the HTTP API's fields. Bad input ends the
program with exit status 2 and one readable line on stderr; in a folder, each bad record gets its line and the rest
go on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from samplechop.service.parameters import PARAMETERS, ChopParams, InvalidParameters, Parameter

# What folder mode picks up: the suffixes of the containers the decoder accepts (samplechop.shared_features.audio).
AUDIO_SUFFIXES = {
    *(".wav", ".wave", ".bwf", ".w64", ".rf64"),
    *(".aif", ".aiff", ".aifc"),
    *(".flac", ".ogg", ".oga", ".opus", ".mp3"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samplechop", description="Chop a record into sampler pads.")
    commands = parser.add_subparsers(dest="command", required=True)

    chop = commands.add_parser(
        "chop",
        help="chop a record (or every record in a folder)",
        description="Chop a record into sampler pads: WAV slices named after the record, an SFZ instrument, an MPC "
        "drum program, a MIDI file and chops.json. A folder is chopped record by record into OUT/<record>/.",
    )
    chop.add_argument("record", type=Path, help="an audio file (WAV, AIFF, FLAC, OGG, MP3) or a folder of them")
    for parameter in PARAMETERS:
        # Taken as text and parsed by the parameter's own rules: a bad value is one line (`samplechop: chops must
        # be between 1 and 128`), as the same value would be a 422 from the HTTP API.
        chop.add_argument(
            parameter.cli_flag,
            dest=parameter.name,
            default=None,
            metavar=_metavar(parameter),
            help=parameter.help_text(),
        )
    chop.add_argument("--format", choices=("json", "text"), default="text", help="what to print (text)")
    chop.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the slices, the sampler programs and chops.json here (a folder: into OUT/<record>/)",
    )
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


def _metavar(parameter: Parameter) -> str:
    if parameter.choices is not None:
        return "{" + ",".join(str(choice) for choice in parameter.choices) + "}"
    if parameter.kind == "points":
        return "T1,T2,…"
    return "N" if parameter.kind == "int" else "S" if parameter.unit == "s" else "X"


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


def _text_summary(name: str, document: dict[str, Any]) -> str:
    key = document.get("key")
    facts = [f"{document['duration']:.2f} s", f"{len(document['chops'])} chops"]
    if document.get("tempo_bpm"):
        facts.append(f"{document['tempo_bpm']:.1f} BPM, {document['beats_per_bar']} beats a bar")
    if key:
        facts.append(f"key {key['tonic']} {key['mode']} ({key['confidence']:.2f})")
    lines = [f"{name}: {', '.join(facts)} (model {document['model_id']})"]
    for chop in document["chops"]:
        length = f"{chop['bars']} bar{'s' if chop['bars'] != 1 else ''}" if chop.get("bars") else chop.get("mode", "")
        lines.append(
            f"  {chop['index']:>2}  {chop['start']:8.3f} → {chop['end']:8.3f} s  p={chop['probability']:.3f}  "
            f"{length:<9} {chop['file']}"
        )
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
    params = ChopParams.from_text({parameter.name: getattr(args, parameter.name) for parameter in PARAMETERS})
    if not args.record.exists():
        raise FileNotFoundError(f"no such file or folder: {args.record}")
    records = _records(args.record)
    if not records:
        raise FileNotFoundError(f"no audio files in {args.record}")
    # Imported here, not at module level: `samplechop --help` and argument errors answer without loading numpy,
    # scipy or onnxruntime. The model (one onnxruntime session) is loaded once for all records, and nothing is
    # warmed up: a CLI run pays only for the records it chops.
    from samplechop.service.engine import DEFAULT_MODEL_PATH, ChopModel, Chopper, result_document, write_slices
    from samplechop.service.engine.exports import record_slug

    chopper = Chopper(ChopModel(args.model or DEFAULT_MODEL_PATH))
    many = args.record.is_dir()
    documents = []
    status = 0
    failed = 0
    folders: set[str] = set()
    iterated, say = _progress(records)
    for record in iterated:
        # In a folder, each record's files go to OUT/<slug>/ and are named after that slug: letters, digits and
        # dashes only, so no record's name (`...wav`, `../x.wav`) can write outside OUT; two records with one
        # slug (`a.wav`, `a.flac`) get `a` and `a-2`.
        slug = _unique(record_slug(record.name), folders) if many else record_slug(record.name)
        try:
            with _native_stderr_silenced():
                chopped = chopper.chop(record, params, name=slug)
                if args.out is not None:  # slices are decoded from the record here too
                    write_slices(chopped, args.out / slug if many else args.out)
        except _bad_input() as error:
            # One line per bad record; in a folder the others are still chopped, and the exit status says so.
            say(f"samplechop: {f'{record}: ' if many else ''}{_one_line(error)}")
            status, failed = max(status, 2), failed + 1
            continue
        except Exception as error:  # a fault of the program on this record: said in one line, the rest go on
            if not many:
                raise
            say(f"samplechop: {record}: internal error ({type(error).__name__}): {_one_line(error)}")
            status, failed = max(status, 1), failed + 1
            continue
        document = result_document(chopped, {"record": str(record)})
        documents.append(document)
        if args.format == "text":
            print(_text_summary(record.name, document))
    if args.format == "json" and documents:
        print(json.dumps(documents if many else documents[0], indent=2))
    if many:
        where = f" into {args.out}" if args.out is not None else ""
        # Not prefixed "samplechop:" like the error lines, so a script counting those counts only failures.
        say(f"summary: {len(records) - failed} of {len(records)} records chopped{where}, {failed} failed")
    return status


def _unique(slug: str, taken: set[str]) -> str:
    """``slug``, or ``slug-2``, ``slug-3`` … when records in one folder share a slug (``a.wav`` and ``a.flac``)."""
    name, number = slug, 1
    while name in taken:
        number += 1
        name = f"{slug}-{number}"
    taken.add(name)
    return name


def _bad_input() -> tuple[type[BaseException], ...]:
    """Errors that mean "this record cannot be chopped" (exit status 2), not a fault of the program."""
    from samplechop.service.engine import AudioDecodeError, RecordTooLong, RecordTooShort, SilentRecord
    from samplechop.shared_features.audio import AudioLimitError

    return (AudioDecodeError, AudioLimitError, RecordTooLong, RecordTooShort, SilentRecord, InvalidParameters, OSError)


def _serve(args: argparse.Namespace) -> int:
    from samplechop.service.api.server import run

    run(host=args.host, port=args.port, workers=args.workers)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _chop(args) if args.command == "chop" else _serve(args)
    except InvalidParameters as error:  # before anything heavy is imported
        print(f"samplechop: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("samplechop: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        return _failed(error)


def _failed(error: Exception) -> int:
    """One line on stderr: status 2 for bad input, 1 for a fault of the program."""
    from samplechop.service.engine import ModelLoadError

    if isinstance(error, (*_bad_input(), ModelLoadError)):
        print(f"samplechop: {_one_line(error)}", file=sys.stderr)
        return 2
    print(f"samplechop: internal error ({type(error).__name__}): {_one_line(error)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
