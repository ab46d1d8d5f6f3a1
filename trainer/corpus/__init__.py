"""Training-corpus renderer: realistic records whose good chop points are known.

See trainer/CORPUS.md for sources, licences, the label rule and determinism.
"""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from trainer.corpus.effects import apply_effects
from trainer.corpus.labels import beat_rows, chop_times
from trainer.corpus.records import build_recipe
from trainer.corpus.render import SoundingNote, default_soundfont, render_notes

SOUNDFONT_LICENCE = "TimGM6mb.sf2 by Tim Brechbill, GPL-2.0 (as bundled with pretty_midi / MuseScore 1.x)"
FADE_OUT_S = 0.05

__all__ = ["render_corpus", "render_record"]


@dataclass(frozen=True)
class _Job:
    index: int
    seed: int
    out_dir: Path
    min_duration_s: float
    max_duration_s: float
    sample_rate: int
    soundfont: Path


def _soundfont_entry(path: Path) -> str:
    return (
        f"{path.name}: {SOUNDFONT_LICENCE}" if path.name == "TimGM6mb.sf2" else f"{path.name}: licence per its author"
    )


def render_record(job: _Job) -> dict:
    """Render one record and its label files; returns its manifest entry."""
    # Seeding by (seed, index) makes every record independent of worker count and scheduling order.
    rng = np.random.default_rng([job.seed, job.index])
    duration = round(float(rng.uniform(job.min_duration_s, job.max_duration_s)), 3)
    recipe = build_recipe(rng, duration)
    arr, timing = recipe.arrangement, recipe.timing
    notes = [
        SoundingNote(timing.seconds(n.start), timing.seconds(n.start + n.duration), n.track, n.pitch, n.velocity)
        for n in arr.notes
    ]
    audio = render_notes(arr.tracks, notes, duration, job.sample_rate, job.soundfont, recipe.drum_kit)
    fade = int(FADE_OUT_S * job.sample_rate)
    audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    audio, effects = apply_effects(audio, job.sample_rate, rng)

    name = f"rec{job.index:05d}_{recipe.kind}"
    sf.write(job.out_dir / f"{name}.wav", audio, job.sample_rate, subtype="PCM_16")
    labels = chop_times(arr, timing, duration, recipe.beat_length)
    (job.out_dir / f"{name}.txt").write_text("".join(f"{t:.4f}\n" for t in labels))
    beats = beat_rows(arr, timing, duration)
    (job.out_dir / f"{name}.beats").write_text("".join(f"{t:.3f}\t{pos}\n" for t, pos in beats))
    return {
        "name": name,
        "kind": recipe.kind,
        "source": recipe.source,
        "licence": recipe.licence,
        "soundfont": _soundfont_entry(job.soundfont),
        "tempo_bpm": round(recipe.tempo_bpm, 2),
        "meter": arr.meter,
        "lead_in_s": round(timing.lead_in_s, 4),
        "instruments": recipe.instruments,
        "effects": effects,
        "seed": [job.seed, job.index],
        "duration": duration,
        "n_labels": len(labels),
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
) -> list[Path]:
    """Render n_records records into out_dir; return the WAV paths.

    Deterministic from seed (same seed -> byte-identical WAVs and labels), whatever ``workers`` is.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sf_path = Path(soundfont) if soundfont is not None else default_soundfont()
    jobs = [_Job(i, seed, out_dir, min_duration_s, max_duration_s, sample_rate, sf_path) for i in range(n_records)]
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
    return [out_dir / f"{e['name']}.wav" for e in entries]
