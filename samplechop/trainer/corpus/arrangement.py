"""The symbolic record every source produces: notes, bar grid and chop candidates, all in quarter notes.

Musical time is in quarter notes (``q``); the tempo map turns it into seconds. Human feel that is not a tempo
change (a laid-back snare, a pushed hi-hat, jitter) is a per-note offset in seconds, ``shift_s``, so it means the
same milliseconds at every tempo.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Track:
    name: str
    program: int
    is_drum: bool = False
    role: str = ""  # drums, bass, keys, guitar, lead, pad, ...: chooses the stem's processing in the mix
    fx: str = ""  # e.g. "distortion": a stem effect the style asks for


@dataclass(frozen=True)
class NoteEvent:
    """One note; ``start``/``duration`` in quarter notes from the song start, ``shift_s`` a feel offset."""

    start: float
    duration: float
    pitch: int
    velocity: int
    track: int
    shift_s: float = 0.0


@dataclass(frozen=True)
class Bar:
    """A bar (or the part of one that the excerpt keeps); ``first_beat`` is the 1-based position of ``beats[0]``."""

    start: float
    beat_length: float
    beats: tuple[float, ...]
    first_beat: int
    meter: str


@dataclass
class Arrangement:
    tracks: list[Track]
    notes: list[NoteEvent]
    bars: list[Bar]
    length: float
    meter: str
    # Extra chop candidates beyond downbeats; downbeats are implied by ``bars``.
    phrase_starts: list[float] = field(default_factory=list)
    chord_changes: list[float] = field(default_factory=list)
    sections: list[tuple[float, str]] = field(default_factory=list)  # (start q, name), for the manifest

    def add(self, track: int, start: float, duration: float, pitch: int, velocity: int, shift_s: float = 0.0) -> None:
        if 0.0 <= start < self.length and duration > 0 and 0 <= pitch <= 127:
            velocity = max(1, min(127, int(velocity)))
            self.notes.append(NoteEvent(start, min(duration, self.length - start), pitch, velocity, track, shift_s))

    def add_track(self, track: Track) -> int:
        self.tracks.append(track)
        return len(self.tracks) - 1

    def beat_grid(self) -> list[tuple[float, int]]:
        """Every beat as (quarter-note time, 1-based position in bar)."""
        return [(t, bar.first_beat + i) for bar in self.bars for i, t in enumerate(bar.beats)]

    def downbeats(self) -> list[float]:
        return [bar.beats[0] for bar in self.bars if bar.first_beat == 1]
