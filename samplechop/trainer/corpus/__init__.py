"""Training-corpus renderer: realistic records whose beats, downbeats and good chop points are known exactly.

See samplechop/trainer/CORPUS.md for sources, licences, the label rule and determinism.
"""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from samplechop.trainer.corpus.arrangement import Track
from samplechop.trainer.corpus.effects import master, mix_stems
from samplechop.trainer.corpus.kits import Kit
from samplechop.trainer.corpus.labels import PREROLL_S, beat_rows, chop_times
from samplechop.trainer.corpus.records import KIND_WEIGHTS, build_recipe
from samplechop.trainer.corpus.render import SoundingNote, render_stems
from samplechop.trainer.corpus.sources import SourceError, check_allowed, require_sources, sources_manifest

FADE_OUT_S = 0.05
FADE_IN_S = 0.005  # an excerpt cut mid-note must not start with a click
FADE_PROB = 0.08  # share of records with a long song fade-in, and (independently) a fade-out

__all__ = ["SourceError", "render_corpus", "render_record"]


@dataclass(frozen=True)
class _Job:
    index: int
    seed: int
    out_dir: Path
    min_duration_s: float
    max_duration_s: float
    sample_rate: int
    soundfont: Path | None
    kind_weights: tuple[tuple[str, float], ...] | None


def _instrument_names(tracks: list[Track], kit: Kit | None) -> list[str]:
    import pretty_midi

    names = []
    for t in tracks:
        if t.is_drum:
            names.append(f"drums: {kit.key if kit else '?'}")
        elif t.role == "vocal":
            names.append(f"vocal: formant voice ({t.fx})")
        else:
            names.append(
                f"{t.name}: {pretty_midi.program_to_instrument_name(t.program)}" + (f" ({t.fx})" if t.fx else "")
            )
    return names


def _song_fades(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> list[str]:
    """Some records fade in or out over seconds, as radio edits and song endings do (beats go on underneath)."""
    names = []
    if rng.random() < FADE_PROB:
        n = min(audio.size // 3, int(rng.uniform(1.0, 5.0) * sample_rate))
        audio[:n] *= np.linspace(0.0, 1.0, n, dtype=np.float32) ** 2
        names.append(f"song fade-in {n / sample_rate:.1f} s")
    if rng.random() < FADE_PROB:
        n = min(audio.size // 3, int(rng.uniform(2.0, 8.0) * sample_rate))
        audio[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32) ** 2
        names.append(f"song fade-out {n / sample_rate:.1f} s")
    return names


def render_record(job: _Job) -> dict:
    """Render one record and its label files; returns its manifest entry."""
    # Seeding by (seed, index) makes every record independent of worker count and scheduling order.
    rng = np.random.default_rng([job.seed, job.index])
    duration = round(float(rng.uniform(job.min_duration_s, job.max_duration_s)), 3)
    recipe = build_recipe(rng, duration, job.soundfont, dict(job.kind_weights) if job.kind_weights else None)
    arr, tmap, sr = recipe.arrangement, recipe.tempo, job.sample_rate
    for path, licence in [(recipe.gm.path, recipe.gm.licence)] + (
        [(recipe.kit.source.path, recipe.kit.licence)] if recipe.kit else []
    ):
        check_allowed(path, licence)

    starts = np.array([n.start for n in arr.notes])
    ends = np.array([n.start + n.duration for n in arr.notes])
    on_s = np.asarray(tmap.seconds(starts)) + np.array([n.shift_s for n in arr.notes])
    off_s = np.asarray(tmap.seconds(ends)) + np.array([n.shift_s for n in arr.notes])
    notes = [
        SoundingNote(float(a), float(b), n.track, n.pitch, n.velocity)
        for n, a, b in zip(arr.notes, on_s, off_s, strict=True)
        if -PREROLL_S <= a < duration
    ]
    pre = round(PREROLL_S * sr)
    n_total = pre + round(duration * sr)
    stems = render_stems(arr.tracks, notes, n_total, PREROLL_S, sr, recipe.gm.path, recipe.kit, rng, recipe.vibrato)
    beat_s = 60.0 / recipe.tempo_bpm
    mixed, stem_fx = mix_stems(stems, arr.tracks, rng, sr, beat_s)
    audio, master_fx = master(mixed, sr, rng, recipe.profile, level_from=pre)
    audio = audio[pre:]
    master_fx += _song_fades(audio, sr, rng)
    fade = int(FADE_OUT_S * sr)
    audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    fade_in = int(FADE_IN_S * sr)
    audio[:fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)

    name = f"rec{job.index:05d}_{recipe.kind}"
    sf.write(job.out_dir / f"{name}.wav", audio, sr, subtype="PCM_16")
    labels = chop_times(arr, tmap, duration, recipe.beat_length, with_chords=recipe.with_chords)
    (job.out_dir / f"{name}.txt").write_text("".join(f"{t:.4f}\n" for t in labels))
    beats = beat_rows(arr, tmap, duration)
    (job.out_dir / f"{name}.beats").write_text("".join(f"{t:.4f}\t{pos}\n" for t, pos in beats))
    q0, q1 = tmap.origin_q, tmap.origin_q + duration * recipe.tempo_bpm * recipe.beat_length / 60.0
    lo, hi = tmap.qpm_range(q0, q1)
    return {
        "name": name,
        "kind": recipe.kind,
        "style": recipe.style,
        "source": recipe.source,
        "licence": " | ".join(recipe.licences),
        "licences": recipe.licences,
        "soundfont": recipe.gm.key,
        "kit": recipe.kit.key if recipe.kit else None,
        "tempo_bpm": round(recipe.tempo_bpm, 2),
        "tempo_range_bpm": [round(lo / recipe.beat_length, 2), round(hi / recipe.beat_length, 2)],
        "meter": arr.meter,
        "lead_in_s": round(tmap.lead_in_s, 4),
        "instruments": _instrument_names(arr.tracks, recipe.kit),
        "effects": stem_fx + master_fx,
        "details": recipe.details,
        "seed": [job.seed, job.index],
        "duration": duration,
        "n_labels": len(labels),
        "n_beats": len(beats),
        "n_downbeats": sum(1 for _, pos in beats if pos == 1),
    }


def render_corpus(
    out_dir: Path,
    n_records: int,
    seed: int,
    *,
    min_duration_s: float = 20.0,
    max_duration_s: float = 40.0,
    sample_rate: int = 44100,
    soundfont: Path | None = None,
    workers: int = 2,
    progress: bool = True,
    kind_weights: dict[str, float] | None = None,
) -> list[Path]:
    """Render n_records records into out_dir; return the WAV paths.

    Deterministic from seed (same seed -> byte-identical WAVs and labels), whatever ``workers`` is.
    ``soundfont`` replaces the GM soundfonts (FluidR3 / MuseScore General) for pitched parts; drum kits are unchanged.
    ``kind_weights`` replaces records.KIND_WEIGHTS (e.g. ``{"drums": 1.0}`` for a drums-only corpus).
    Raises SourceError (with the apt command to fix it) when a soundfont or drum kit is not installed.
    """
    if n_records < 0 or min_duration_s <= 1.0 or max_duration_s < min_duration_s:
        raise ValueError("need n_records >= 0 and 1 s < min_duration_s <= max_duration_s")
    require_sources()
    if kind_weights is not None and (
        not kind_weights or set(kind_weights) - set(KIND_WEIGHTS) or min(kind_weights.values()) < 0
    ):
        raise ValueError(f"kind_weights: non-negative weights for some of {sorted(KIND_WEIGHTS)}")
    weights = tuple(sorted(kind_weights.items())) if kind_weights else None
    if soundfont is not None and not Path(soundfont).exists():
        raise SourceError(f"soundfont {soundfont} does not exist")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sf_path = Path(soundfont) if soundfont is not None else None
    jobs = [
        _Job(i, seed, out_dir, min_duration_s, max_duration_s, sample_rate, sf_path, weights) for i in range(n_records)
    ]
    bar = tqdm(total=n_records, desc="rendering corpus", unit="rec", disable=not progress)
    if workers <= 1:
        entries = []
        for job in jobs:
            entries.append(render_record(job))
            bar.update()
    else:
        # spawn: workers must not inherit locks/threads from a parent that may have TensorFlow loaded.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            entries = []
            for entry in pool.imap(render_record, jobs):
                entries.append(entry)
                bar.update()
    bar.close()
    (out_dir / "corpus.json").write_text(json.dumps(entries, indent=1) + "\n")
    (out_dir / "sources.json").write_text(json.dumps(sources_manifest(), indent=1) + "\n")
    return [out_dir / f"{e['name']}.wav" for e in entries]
