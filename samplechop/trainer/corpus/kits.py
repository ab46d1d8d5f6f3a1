"""Drum kits: General MIDI soundfont kits, the AVL multi-sampled acoustic kits, and Hydrogen drumkits.

Every kit is played through GM drum note numbers. Soundfont kits go through tinysoundfont (render.py); Hydrogen kits
(``drumkit.xml`` + WAV/FLAC layers) are played by the small sampler here: velocity layers, round robin between
layers that share a range, open hi-hat choked by the closed/pedal hat, each sample placed at its exact sample index
(so hits land where the note-on says; the sample files' own lead-in is trimmed at load, see _load).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from samplechop.trainer.corpus.sources import AVL_KITS, GM_SOUNDFONTS, HYDROGEN_KITS, Source, check_allowed

MAX_SAMPLE_S = 2.5  # cymbal tails beyond this are faded out: memory stays small, nothing audible is lost in a mix
ATTACK_FRACTION = 0.1  # a hit "starts" where its level first reaches this share of its peak ...
PRE_ATTACK_S = 0.002  # ... and the sample is kept from this long before (measured rise times: see CORPUS.md)


@dataclass(frozen=True)
class Kit:
    key: str
    source: Source
    kind: str  # "sf2" (tinysoundfont, GM drum channel) or "h2" (Hydrogen sampler)
    bank: int
    preset: int
    tags: frozenset[str]

    @property
    def licence(self) -> str:
        return self.source.licence


def _gm(sf_source: Source, name: str, preset: int, *tags: str) -> Kit:
    return Kit(f"{sf_source.key}:{name}", sf_source, "sf2", 128, preset, frozenset(tags))


def _kits() -> tuple[Kit, ...]:
    kits: list[Kit] = []
    for gm in GM_SOUNDFONTS:
        kits += [
            _gm(gm, "standard", 0, "acoustic", "pop", "rock"),
            _gm(gm, "room", 8, "acoustic", "vintage", "breaks"),
            _gm(gm, "power", 16, "rock", "metal"),
            _gm(gm, "electronic", 24, "electronic"),
            _gm(gm, "tr808", 25, "electronic", "hiphop"),
            _gm(gm, "jazz", 32, "jazz", "acoustic"),
            _gm(gm, "brush", 40, "brush", "jazz"),
        ]
    avl_tags = {
        "avl_black_pearl": ("acoustic", "rock", "pop", "metal"),
        "avl_red_zeppelin": ("acoustic", "rock", "vintage", "breaks"),
    }
    kits += [Kit(s.key, s, "sf2", 0, 0, frozenset(avl_tags[s.key])) for s in AVL_KITS]
    h2_tags = {
        "h2_audiophob": ("electronic", "hiphop"),
        "h2_rumpf": ("acoustic", "pop"),
        "h2_colombo": ("acoustic", "vintage", "jazz", "breaks"),
        "h2_bja_pacific": ("acoustic", "rock", "jazz"),
        "h2_forzee": ("acoustic", "rock", "metal"),
        "h2_black_pearl": ("acoustic", "rock", "pop"),
        "h2_millo1": ("vintage", "hiphop", "breaks"),
        "h2_millo2": ("acoustic", "vintage", "breaks"),
        "h2_millo3": ("acoustic", "vintage"),
        "h2_electric_empire": ("electronic",),
        "h2_hard_electro": ("electronic",),
        "h2_varibreaks": ("hiphop", "breaks", "electronic"),
    }
    kits += [Kit(s.key, s, "h2", 0, 0, frozenset(h2_tags[s.key])) for s in HYDROGEN_KITS]
    return tuple(kits)


KITS: tuple[Kit, ...] = _kits()


def choose_kit(rng: np.random.Generator, tags: tuple[str, ...], gm_key: str) -> Kit:
    """A kit matching the style's tags; GM soundfont kits only from the record's chosen GM soundfont."""
    pool = [k for k in KITS if k.tags & set(tags) and (k.kind != "sf2" or k.bank != 128 or k.source.key == gm_key)]
    pool = pool or [k for k in KITS if k.source.key == gm_key]
    return pool[int(rng.integers(len(pool)))]


# GM drum note -> Hydrogen role; roles missing from a kit fall back along FALLBACK.
GM_ROLE = {
    35: "kick",
    36: "kick",
    37: "side",
    38: "snare",
    39: "clap",
    40: "snare",
    42: "hat",
    44: "pedal",
    46: "open",
    49: "crash",
    57: "crash",
    52: "crash",
    55: "crash",
    51: "ride",
    59: "ride",
    53: "bell",
    50: "tom_hi",
    48: "tom_hi",
    47: "tom_mid",
    45: "tom_mid",
    43: "tom_lo",
    41: "tom_lo",
    56: "cowbell",
    54: "tamb",
    70: "shaker",
    69: "shaker",
}
FALLBACK = {
    "side": ("snare",),
    "clap": ("snare",),
    "pedal": ("hat",),
    "open": ("hat",),
    "ride": ("hat",),
    "bell": ("ride", "hat"),
    "crash": ("open", "ride", "hat"),
    "tom_hi": ("tom_mid", "tom_lo", "snare"),
    "tom_mid": ("tom_hi", "tom_lo", "snare"),
    "tom_lo": ("tom_mid", "tom_hi", "snare"),
    "cowbell": ("side", "hat"),
    "tamb": ("shaker", "hat"),
    "shaker": ("tamb", "hat"),
    "hat": ("ride", "shaker"),
    "snare": ("clap", "side"),
    "kick": ("tom_lo",),
}
_RULES: tuple[tuple[str, str], ...] = (
    (r"kick|bass ?drum|\bbd", "kick"),
    (r"rim click|side stick|\bstick", "side"),
    # Articulations a groove never asks for: left out rather than mistaken for the plain sound.
    (r"snare.*(roll|rim)|rimshot|swish|choke|flink|hat free|semi|side ?o?hh|zap|\bfx\b|whistle|click", ""),
    (r"snare", "snare"),
    (r"clap", "clap"),
    (r"tamb", "tamb"),
    (r"(hat|hh).*(op|open)|\bohh|open hh", "open"),
    (r"(hat|hh).*(pedal|pd)|pedal", "pedal"),
    (r"hat|hh|hi-hat", "hat"),
    (r"ride.*(bell|cup)|\bbell\b", "bell"),
    (r"crash/ride bow|ride", "ride"),
    (r"crash|china|splash|cymbal", "crash"),
    (r"tom ?mid|middle tom|mid tom|tom ?2", "tom_mid"),
    (r"floor|tom ?low|low tom|tom ?lo\b", "tom_lo"),
    (r"tom|hi\b", "tom_hi"),
    (r"cowbell", "cowbell"),
    (r"shaker|maraca", "shaker"),
)


def role_of(name: str) -> str:
    lowered = name.lower()
    for pattern, role in _RULES:
        if re.search(pattern, lowered):
            return role
    return ""


@dataclass(frozen=True)
class Layer:
    path: Path
    lo: float
    hi: float
    gain: float


@dataclass(frozen=True)
class Instrument:
    name: str
    role: str
    volume: float
    layers: tuple[Layer, ...]


def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in elem if _strip(c.tag) == name), None)


def _float(elem: ET.Element, name: str, default: float) -> float:
    child = _child(elem, name)
    try:
        return float(child.text) if child is not None and child.text else default
    except ValueError:
        return default


@lru_cache(maxsize=16)
def hydrogen_instruments(folder: str) -> tuple[Instrument, ...]:
    root = ET.parse(Path(folder) / "drumkit.xml").getroot()
    out: list[Instrument] = []
    for inst in root.iter():
        if _strip(inst.tag) != "instrument":
            continue
        name_el = _child(inst, "name")
        name = name_el.text if name_el is not None and name_el.text else ""
        layers: list[Layer] = []
        for layer in inst.iter():
            if _strip(layer.tag) != "layer":
                continue
            fn = _child(layer, "filename")
            if fn is not None and fn.text:
                layers.append(
                    Layer(
                        Path(folder) / fn.text,
                        _float(layer, "min", 0),
                        _float(layer, "max", 1),
                        _float(layer, "gain", 1),
                    )
                )
        fn = _child(inst, "filename")
        if not layers and fn is not None and fn.text:
            layers.append(Layer(Path(folder) / fn.text, 0.0, 1.0, 1.0))
        layers = [la for la in layers if la.path.exists()]
        role = role_of(name)
        if role and layers:
            vol = _float(inst, "volume", 1.0) * _float(inst, "gain", 1.0)
            out.append(Instrument(name, role, vol, tuple(layers)))
    return tuple(out)


@lru_cache(maxsize=256)
def _load(path: str, sample_rate: int) -> np.ndarray:
    """A sample as float32 (n, 2) at sample_rate, leading silence trimmed, tail capped at MAX_SAMPLE_S."""
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    data = data[:, :2]
    if sr != sample_rate:
        data = soxr.resample(data, sr, sample_rate).astype(np.float32)
    level = np.abs(data).max(axis=1)
    peak = float(level.max()) if level.size else 0.0
    if peak > 0:
        # Multi-mic kit samples can open with tens of ms of low bleed before the hit: start 2 ms before the level
        # first reaches a tenth of its peak, with a 1 ms fade-in, so the hit sounds at its note-on.
        hit = int(np.argmax(level > peak * ATTACK_FRACTION))
        data = data[max(0, hit - int(PRE_ATTACK_S * sample_rate)) :].copy()
        fade_in = min(data.shape[0], int(0.001 * sample_rate))
        data[:fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)[:, None]
    cap = int(MAX_SAMPLE_S * sample_rate)
    if data.shape[0] > cap:
        data = data[:cap].copy()
        fade = int(0.05 * sample_rate)
        data[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return np.ascontiguousarray(data)


@dataclass(frozen=True)
class H2Hit:
    sample: int
    pitch: int
    velocity: int


def render_hydrogen(
    kit: Kit, hits: list[H2Hit], n_samples: int, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Play GM-numbered hits on a Hydrogen kit; returns float32 (n_samples, 2)."""
    check_allowed(kit.source.path, kit.source.licence)
    instruments = hydrogen_instruments(str(kit.source.path))
    by_role: dict[str, list[Instrument]] = {}
    for inst in instruments:
        by_role.setdefault(inst.role, []).append(inst)
    # One instrument per role for the whole record (kits with several kicks get a different one per record).
    chosen = {role: insts[int(rng.integers(len(insts)))] for role, insts in sorted(by_role.items())}
    out = np.zeros((n_samples, 2), dtype=np.float32)
    ordered = sorted(hits, key=lambda h: h.sample)
    next_hat = _next_hat_times(ordered)
    for hit, hat_next in zip(ordered, next_hat, strict=True):
        role = GM_ROLE.get(hit.pitch, "")
        inst = chosen.get(role)
        for alt in FALLBACK.get(role, ()):
            if inst is not None:
                break
            inst = chosen.get(alt)
        if inst is None or hit.sample >= n_samples:
            continue
        v = hit.velocity / 127.0
        layers = [la for la in inst.layers if la.lo <= v <= la.hi] or [
            min(inst.layers, key=lambda la: abs((la.lo + la.hi) / 2 - v))
        ]
        layer = layers[int(rng.integers(len(layers)))]
        sample = _load(str(layer.path), sample_rate)
        length = min(sample.shape[0], n_samples - hit.sample)
        if role == "open" and hat_next is not None:
            # The closed/pedal hat chokes an open one (Hydrogen's mute group): 15 ms fade at the next hat.
            length = min(length, max(1, hat_next - hit.sample + int(0.015 * sample_rate)))
        gain = np.float32(inst.volume * layer.gain * v)
        seg = sample[:length] * gain
        if role == "open" and hat_next is not None and length < sample.shape[0]:
            fade = min(length, int(0.015 * sample_rate))
            seg[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        out[hit.sample : hit.sample + length] += seg
    return out


def _next_hat_times(hits: list[H2Hit]) -> list[int | None]:
    out: list[int | None] = [None] * len(hits)
    nxt: int | None = None
    for i in range(len(hits) - 1, -1, -1):
        out[i] = nxt
        if GM_ROLE.get(hits[i].pitch) in ("hat", "pedal"):
            nxt = hits[i].sample
    return out
