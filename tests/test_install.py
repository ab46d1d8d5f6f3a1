"""The service install set stays lean: `pip install .[service]` pulls none of the heavy training-side packages, and
the CLI and the HTTP app import none of them at run time.

The requirement tree is resolved offline from the installed packages' own metadata (importlib.metadata), starting
at pyproject.toml's base and `service` lists, so the test needs no network and no pip.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.synth import beat_record, write_record

REPO = Path(__file__).resolve().parent.parent
# What the service must never install or import: TensorFlow (the trainer's), librosa and what it drags in (numba,
# its LLVM binding llvmlite, scikit-learn; ~280 MB of the old 622 MB image).
FORBIDDEN = ("tensorflow", "tensorflow-cpu", "librosa", "numba", "llvmlite", "scikit-learn")
FORBIDDEN_MODULES = ("tensorflow", "librosa", "numba", "llvmlite", "sklearn")


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _install_set(*extras: str) -> list[str]:
    project = _project()
    return [*project["dependencies"], *(req for extra in extras for req in project["optional-dependencies"][extra])]


def _wanted(requirement: Requirement, extras: Iterable[str]) -> bool:
    """Whether a requirement applies on this interpreter with these extras of its parent requested."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras))


def resolve(requirements: Iterable[str]) -> dict[str, str]:
    """Every distribution the requirements pull in, transitively: canonical name → who required it first.

    Follows the installed distributions' Requires-Dist (with markers evaluated for this interpreter and the
    requested extras). Raises LookupError for a requirement that is not installed: its dependencies are unknown.
    """
    found: dict[str, str] = {}
    pending = [(Requirement(text), "pyproject.toml") for text in requirements]
    seen_extras: dict[str, set[str]] = {}
    while pending:
        requirement, parent = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in found and extras <= seen_extras[name]:
            continue
        found.setdefault(name, parent)
        seen_extras.setdefault(name, set()).update(extras)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError as error:
            raise LookupError(f"{requirement.name} (required by {parent}) is not installed") from error
        for text in requires:
            child = Requirement(text)
            if _wanted(child, seen_extras[name]):
                pending.append((child, name))
    return found


def _chain(found: dict[str, str], name: str) -> str:
    """``a ← b ← pyproject.toml``: how a distribution got into the set."""
    links = [name]
    while links[-1] in found:
        links.append(found[links[-1]])
    return " ← ".join(links)


def test_every_requirement_is_pinned_exactly() -> None:
    project = _project()
    lists = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    loose = [f"{group}: {text}" for group, texts in lists.items() for text in texts if _not_exact(text)]
    assert not loose, f"pin these exactly (==): {loose}"


def _not_exact(text: str) -> bool:
    specifiers = list(Requirement(text).specifier)
    return len(specifiers) != 1 or specifiers[0].operator != "=="


def test_service_install_set_pulls_no_training_packages() -> None:
    try:
        found = resolve(_install_set("service"))
    except LookupError as error:
        pytest.fail(f"cannot resolve the service set offline: {error}; run scripts/setup first")
    assert {"numpy", "scipy", "onnxruntime", "fastapi", "uvicorn"} <= found.keys()  # it did walk the set
    heavy = [_chain(found, canonicalize_name(name)) for name in FORBIDDEN if canonicalize_name(name) in found]
    assert not heavy, f"the service install set pulls in: {heavy}"


def test_resolver_sees_librosas_dependencies_through_the_trainer_extra() -> None:
    """The same walk over the trainer set finds librosa's transitive dependencies, so the check above can fail."""
    pytest.importorskip("librosa")
    found = resolve(_install_set("trainer"))
    assert {"librosa", "numba", "llvmlite", "scikit-learn"} <= found.keys()
    assert found["llvmlite"] == "numba"


def test_cli_chop_and_service_app_import_no_training_packages(tmp_path: Path) -> None:
    """A real chop through the CLI, then the HTTP app, in a fresh interpreter: none of the heavy modules load."""
    record = write_record(beat_record(3.0, bpm=110.0, seed=3), tmp_path / "record.wav")
    code = (
        "import json, sys\n"
        "from samplechop.service.cli import main\n"
        "names = sys.argv[3].split(',')\n"
        "status = main(['chop', sys.argv[1], '--chops', '3', '--format', 'json', '--out', sys.argv[2]])\n"
        "after_chop = sorted(m for m in names if m in sys.modules)\n"
        "import samplechop.service.api.app, samplechop.service.api.server\n"
        "after_app = sorted(m for m in names if m in sys.modules)\n"
        "print(json.dumps({'status': status, 'after_chop': after_chop, 'after_app': after_app}), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(record), str(tmp_path / "out"), ",".join(FORBIDDEN_MODULES)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"status": 0, "after_chop": [], "after_app": []}, done.stderr
    assert len(json.loads(done.stdout)["chops"]) == 3
    assert len(list((tmp_path / "out").glob("record_*.wav"))) == 3  # named after the record


def test_the_wheel_installs_one_top_level_package(tmp_path: Path) -> None:
    """`pip install .` adds `samplechop` (and its dist-info) to site-packages and no generic names such as `service`,
    `trainer` or `shared_features` that would collide with another project's."""
    # Built from a copy of what the sdist holds, so the build leaves nothing (build/, *.egg-info) in the checkout.
    source = tmp_path / "source"
    shutil.copytree(REPO / "samplechop", source / "samplechop", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), source],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("samplechop-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        top_level = {name.split("/", 1)[0] for name in archive.namelist()}
        packaged = set(archive.namelist())
    name, version = wheel.name.split("-")[:2]
    assert top_level == {"samplechop", f"{name}-{version}.dist-info"}
    # the shipped model and the web page travel inside the package
    assert {"samplechop/service/models/default.onnx", "samplechop/service/static/index.html"} <= packaged
