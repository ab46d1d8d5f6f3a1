"""Cutting the original audio into pad-ready slices and writing them as WAV files.

The original is read through a :class:`SegmentSource` (``DecodedAudio`` is one), a segment at a time, so a slice
never needs the whole record in memory; a plain (samples, channels) array works too.
"""

from __future__ import annotations

import io
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import soundfile as sf

ZERO_CROSSING_SEARCH_S = 0.003
FADE_S = 0.002
# Frames per block when a slice is encoded: ~0.75 s at 44.1 kHz, 512 KiB of float32 stereo.
WRITE_BLOCK_FRAMES = 1 << 16


class SegmentSource(Protocol):
    """Anything that returns frames [start, stop) of the original as float32 (n, channels)."""

    def read(self, start_sample: int, stop_sample: int) -> np.ndarray: ...


class ArraySource:
    """A :class:`SegmentSource` over samples already in memory, shape (samples, channels)."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples if samples.ndim == 2 else samples[:, None]

    def read(self, start_sample: int, stop_sample: int) -> np.ndarray:
        return np.asarray(self.samples[max(0, start_sample) : max(0, stop_sample)], dtype=np.float32)


def _as_source(samples: SegmentSource | np.ndarray) -> SegmentSource:
    return ArraySource(samples) if isinstance(samples, np.ndarray) else samples


def nearest_zero_crossing(samples: SegmentSource | np.ndarray, position: int, radius: int, total: int) -> int:
    """The sample index nearest ``position`` (within ``radius``) where the mono mix changes sign, else ``position``.

    ``samples`` holds ``total`` frames. Cutting there keeps a pad from starting with a step.
    """
    low, high = max(position - radius, 1), min(position + radius, total - 1)
    if high <= low:
        return int(np.clip(position, 0, total))
    window = _as_source(samples).read(low - 1, high + 1)
    mono = window.mean(axis=1)
    crossings = np.flatnonzero((mono[:-1] <= 0.0) != (mono[1:] <= 0.0)) + low
    if crossings.size == 0:
        return position
    return int(crossings[np.argmin(np.abs(crossings - position))])


def cut_points(
    starts_s: np.ndarray,
    duration_samples: int,
    sample_rate: int,
    samples: SegmentSource | np.ndarray,
    max_length_s: float | None,
) -> list[tuple[int, int]]:
    """(start, end) sample indices of each slice, in time order.

    Each slice runs from its chop to the next (the last to the record's end, or ``max_length_s`` when set), both
    ends moved to the nearest zero crossing; consecutive slices share their boundary, so they tile the record.
    ``samples`` is read only around each boundary, in time order (cheap for sources that read forward).
    """
    source = _as_source(samples)
    radius = round(ZERO_CROSSING_SEARCH_S * sample_rate)
    starts = [
        nearest_zero_crossing(source, round(t * sample_rate), radius, duration_samples) for t in np.sort(starts_s)
    ]
    bounds = [*starts, duration_samples]
    pairs = []
    for start, following in itertools.pairwise(bounds):
        end = following
        if max_length_s is not None:
            limit = start + round(max_length_s * sample_rate)
            end = min(end, nearest_zero_crossing(source, limit, radius, duration_samples))
        pairs.append((start, max(end, start)))
    return pairs


def fade_gain(first: int, count: int, length: int, fade_frames: int) -> np.ndarray | None:
    """The fade gain of frames [first, first + count) of a slice ``length`` frames long, or None where it is 1.

    A linear ramp over the first and the last ``fade_frames`` frames (at most half the slice each), so no pad
    clicks even off a zero crossing.
    """
    fade = min(fade_frames, length // 2)
    if fade <= 0 or (first >= fade and first + count <= length - fade):
        return None
    index = np.arange(first, first + count, dtype=np.float64)  # float32 counts exactly only to 2**24 (6 min)
    fade_in = np.minimum(index / fade, 1.0)
    fade_out = np.minimum((length - 1 - index) / fade, 1.0)
    return (fade_in * fade_out).astype(np.float32)[:, None]


def slice_wav_bytes(
    samples: SegmentSource | np.ndarray, start: int, stop: int, sample_rate: int, channels: int, bit_depth: int
) -> bytes:
    """Frames [start, stop) of the original as a faded PCM WAV, read and encoded a block at a time.

    Peak memory is the WAV itself plus one block, however long the slice.
    """
    source = _as_source(samples)
    length = max(0, stop - start)
    fade_frames = round(FADE_S * sample_rate)
    buffer = io.BytesIO()
    with sf.SoundFile(
        buffer, "w", samplerate=sample_rate, channels=channels, format="WAV", subtype=f"PCM_{bit_depth}"
    ) as out:
        for first in range(0, length, WRITE_BLOCK_FRAMES):
            block = source.read(start + first, start + min(length, first + WRITE_BLOCK_FRAMES))
            block = np.clip(block, -1.0, 1.0)
            gain = fade_gain(first, block.shape[0], length, fade_frames)
            if gain is not None:
                block *= gain
            out.write(block)
    return buffer.getvalue()


# --- clean edges: DC, fades and loop crossfades ------------------------------------------------------------------

# A short raised-cosine fade-in: the slice starts a few ms before its attack (slicing.PRE_ATTACK_S = 5 ms), so a
# 2-ms fade ends before the transient and leaves it whole.
FADE_IN_S = 0.002
# A fade-out of a few ms: a quarter cycle of a 50-Hz bass note, so a cut through a held note glides to zero
# instead of stepping, and short enough not to shorten a one-shot's tail audibly.
FADE_OUT_S = 0.005
# Loop slices: the last LOOP_CROSSFADE_S of the slice blend (equal power) into the audio just before its start, so
# the seam from the last sample back to the first is the original's own continuity. 10 ms is longer than a cycle
# of most bass notes (100 Hz) and still short next to a beat.
LOOP_CROSSFADE_S = 0.010
# The DC offset removed from a slice is the mean of at least this much audio around it, so a short hit's own
# asymmetry is not taken for an offset.
DC_WINDOW_S = 1.0


@dataclass(frozen=True)
class EdgeOptions:
    """How a slice's edges are cleaned. ``loop_crossfade_s`` applies to loop slices only (0: none, plain fades)."""

    fade_in_s: float = FADE_IN_S
    fade_out_s: float = FADE_OUT_S
    remove_dc: bool = True
    loop_crossfade_s: float = LOOP_CROSSFADE_S

    def __post_init__(self) -> None:
        for name in ("fade_in_s", "fade_out_s", "loop_crossfade_s"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1 second, got {value!r}")


def dc_offset(source: SegmentSource | np.ndarray, start: int, stop: int, *, sample_rate_hz: int) -> np.ndarray:
    """Per-channel mean of the original over ``[start, stop)`` widened to at least :data:`DC_WINDOW_S`."""
    reader = _as_source(source)
    pad = max(0, (round(DC_WINDOW_S * sample_rate_hz) - (stop - start)) // 2)
    low, high = max(0, start - pad), stop + pad
    total: np.ndarray | None = None
    count = 0
    for first in range(low, high, WRITE_BLOCK_FRAMES):
        block = reader.read(first, min(high, first + WRITE_BLOCK_FRAMES)).astype(np.float64)
        if block.shape[0] == 0:
            break
        sums = block.sum(axis=0)
        total = sums if total is None else total + sums
        count += block.shape[0]
    if total is None or count == 0:
        return np.zeros(1, dtype=np.float32)
    return (total / count).astype(np.float32)


def _raised_cosine(index: np.ndarray, fade: int) -> np.ndarray:
    """0 at index 0 rising to 1 at ``fade`` (sin²), 1 beyond."""
    return np.square(np.sin(0.5 * np.pi * np.minimum(index / fade, 1.0)))


class _EdgeShaper:
    """Applies DC removal, fades and the loop crossfade to the blocks of one slice, in any order."""

    def __init__(
        self,
        source: SegmentSource,
        start: int,
        stop: int,
        *,
        sample_rate_hz: int,
        loop: bool,
        edges: EdgeOptions,
    ) -> None:
        self.length = max(0, stop - start)
        self.dc = dc_offset(source, start, stop, sample_rate_hz=sample_rate_hz) if edges.remove_dc else None
        crossfade = min(round(edges.loop_crossfade_s * sample_rate_hz), start, self.length // 2) if loop else 0
        self.crossfade = crossfade if crossfade >= 2 else 0
        # The audio just before the start, faded into the tail so the tail runs on into the head.
        self.lead_in = source.read(start - self.crossfade, start) if self.crossfade else None
        self.fade_in = 0 if self.crossfade else min(round(edges.fade_in_s * sample_rate_hz), self.length // 2)
        self.fade_out = 0 if self.crossfade else min(round(edges.fade_out_s * sample_rate_hz), self.length // 2)

    def shape(self, block: np.ndarray, first: int) -> np.ndarray:
        out = np.array(block, dtype=np.float32, copy=True)
        if self.dc is not None:
            out -= self.dc
        index = np.arange(first, first + out.shape[0], dtype=np.float64)  # float32 counts exactly only to 2**24
        if self.fade_in and first < self.fade_in:
            out *= _raised_cosine(index, self.fade_in).astype(np.float32)[:, None]
        if self.fade_out and first + out.shape[0] > self.length - self.fade_out:
            out *= _raised_cosine(self.length - 1 - index, self.fade_out).astype(np.float32)[:, None]
        tail = self.length - self.crossfade
        if self.lead_in is not None and first + out.shape[0] > tail:
            low = max(first, tail)
            rows = slice(low - first, out.shape[0])
            position = (np.arange(low, first + out.shape[0]) - tail + 1) / self.crossfade  # (0, 1]
            lead = self.lead_in[low - tail : low - tail + position.size]
            if self.dc is not None:
                lead = lead - self.dc
            # Equal power: cos² + sin² = 1; the last sample is the lead-in's last, the sample before the start.
            out[rows] = (
                out[rows] * np.cos(0.5 * np.pi * position)[:, None] + lead * np.sin(0.5 * np.pi * position)[:, None]
            ).astype(np.float32)
        return np.clip(out, -1.0, 1.0, out=out)


def render_slice(
    samples: SegmentSource | np.ndarray,
    start: int,
    stop: int,
    *,
    sample_rate_hz: int,
    loop: bool = False,
    edges: EdgeOptions | None = None,
) -> np.ndarray:
    """Frames [start, stop) of the original with clean edges, float32 (n, channels), all in memory."""
    source = _as_source(samples)
    shaper = _EdgeShaper(source, start, stop, sample_rate_hz=sample_rate_hz, loop=loop, edges=edges or EdgeOptions())
    return shaper.shape(source.read(start, stop), 0)


# --- sampler metadata in the WAV: `smpl` and `acid` chunks ------------------------------------------------------


@dataclass(frozen=True)
class SamplerInfo:
    """What a sampler should know about a slice: the MIDI note it plays at its own pitch, whether the whole slice
    loops, and (for loops) its tempo, length in beats and meter."""

    unity_note: int = 60
    loop: bool = False
    tempo_bpm: float | None = None
    beats: float | None = None
    beats_per_bar: int | None = None


def smpl_chunk(*, sample_rate_hz: int, unity_note: int, loop_frames: tuple[int, int] | None = None) -> bytes:
    """The payload of a RIFF ``smpl`` chunk (Microsoft/IBM multimedia spec, 1991): 36 bytes of header and one
    24-byte forward loop over frames ``loop_frames = (first, last)`` — both inclusive, as the spec counts them.

    Header: manufacturer, product (0: none), sample period in ns, MIDI unity note, pitch fraction, SMPTE
    format and offset (0), number of loops, sampler-data bytes (0). Loop: cue id, type 0 (forward), start,
    end, fraction 0, play count 0 (forever).
    """
    if not 0 <= unity_note <= 127:
        raise ValueError(f"unity_note must be a MIDI note 0..127, got {unity_note}")
    loops = [] if loop_frames is None else [loop_frames]
    period_ns = round(1e9 / sample_rate_hz)
    header = struct.pack("<9I", 0, 0, period_ns, unity_note, 0, 0, 0, len(loops), 0)
    body = b"".join(struct.pack("<6I", 0, 0, first, last, 0, 0) for first, last in loops)
    return header + body


# `acid` flags, as libsndfile reads them (wav.c, wav_read_acid_chunk): bit 0 one-shot, 1 root note set,
# 2 stretch, 3 disk-based.
ACID_ONE_SHOT, ACID_ROOT_NOTE, ACID_STRETCH = 0x01, 0x02, 0x04


def acid_chunk(
    *, unity_note: int, one_shot: bool, tempo_bpm: float, beats: int, beats_per_bar: int, beat_unit: int = 4
) -> bytes:
    """The payload of an ``acid`` chunk (Sonic Foundry ACID loops; undocumented, 24 bytes as libsndfile reads it):
    flags u32, root note u16, 0x8000 u16, 0.0 f32, number of beats u32, meter denominator u16, meter numerator
    u16, tempo f32. Ableton Live, FL Studio and Acid read the tempo and beats of a loop from it."""
    flags = ACID_ROOT_NOTE | (ACID_ONE_SHOT if one_shot else ACID_STRETCH)
    return struct.pack(
        "<IHHfIHHf", flags, unity_note, 0x8000, 0.0, max(0, beats), beat_unit, beats_per_bar, float(tempo_bpm)
    )


def riff_chunks(wav: bytes) -> list[tuple[bytes, int, int]]:
    """(chunk id, payload offset, payload size) of every chunk of a RIFF/WAVE file, in order."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    chunks = []
    offset = 12
    while offset + 8 <= len(wav):
        identifier = wav[offset : offset + 4]
        (size,) = struct.unpack("<I", wav[offset + 4 : offset + 8])
        chunks.append((identifier, offset + 8, size))
        offset += 8 + size + (size & 1)  # chunks are word-aligned
    return chunks


def append_riff_chunks(buffer: io.BytesIO, chunks: Sequence[tuple[bytes, bytes]]) -> None:
    """Append ``(id, payload)`` chunks to the RIFF/WAVE file in ``buffer``, in place, and update its RIFF size."""
    head = buffer.getbuffer()[:12].tobytes()
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    buffer.seek(0, io.SEEK_END)
    if buffer.tell() % 2:
        buffer.write(b"\x00")
    for identifier, payload in chunks:
        if len(identifier) != 4:
            raise ValueError(f"a RIFF chunk id is 4 bytes, got {identifier!r}")
        buffer.write(identifier + struct.pack("<I", len(payload)) + payload)
        if len(payload) % 2:
            buffer.write(b"\x00")
    size = buffer.tell()
    buffer.seek(4)
    buffer.write(struct.pack("<I", size - 8))
    buffer.seek(0, io.SEEK_END)


def with_riff_chunks(wav: bytes, chunks: Sequence[tuple[bytes, bytes]]) -> bytes:
    """``wav`` with ``(id, payload)`` chunks appended after its last chunk and the RIFF size updated."""
    riff_chunks(wav)  # validates
    buffer = io.BytesIO(wav)
    append_riff_chunks(buffer, chunks)
    return buffer.getvalue()


def sampler_chunks(info: SamplerInfo, *, sample_rate_hz: int, length_frames: int) -> list[tuple[bytes, bytes]]:
    """The ``smpl`` chunk (unity note, and a loop over the whole slice when it loops) and, when the tempo is
    known, the ``acid`` chunk with the tempo, beats and meter."""
    loop = (0, length_frames - 1) if info.loop and length_frames > 1 else None
    chunks = [(b"smpl", smpl_chunk(sample_rate_hz=sample_rate_hz, unity_note=info.unity_note, loop_frames=loop))]
    if info.tempo_bpm is not None and info.tempo_bpm > 0:
        chunks.append(
            (
                b"acid",
                acid_chunk(
                    unity_note=info.unity_note,
                    one_shot=not info.loop,
                    tempo_bpm=info.tempo_bpm,
                    beats=round(info.beats) if info.beats is not None else 0,
                    beats_per_bar=info.beats_per_bar or 4,
                ),
            )
        )
    return chunks


def clean_slice_wav_bytes(
    samples: SegmentSource | np.ndarray,
    start: int,
    stop: int,
    *,
    sample_rate_hz: int,
    channels: int,
    bit_depth: int,
    loop: bool = False,
    edges: EdgeOptions | None = None,
    sampler: SamplerInfo | None = None,
) -> bytes:
    """Frames [start, stop) of the original as a PCM WAV with clean edges (DC removed, fades, or the loop
    crossfade for a loop slice), at the record's own rate and channels, with ``smpl``/``acid`` chunks when
    ``sampler`` is given. Read and encoded a block at a time: peak memory is the WAV plus one block."""
    if bit_depth not in (16, 24):
        raise ValueError(f"bit_depth must be 16 or 24, got {bit_depth}")
    source = _as_source(samples)
    length = max(0, stop - start)
    shaper = _EdgeShaper(source, start, stop, sample_rate_hz=sample_rate_hz, loop=loop, edges=edges or EdgeOptions())
    buffer = io.BytesIO()
    with sf.SoundFile(
        buffer, "w", samplerate=sample_rate_hz, channels=channels, format="WAV", subtype=f"PCM_{bit_depth}"
    ) as out:
        for first in range(0, length, WRITE_BLOCK_FRAMES):
            block = source.read(start + first, start + min(length, first + WRITE_BLOCK_FRAMES))
            out.write(shaper.shape(block, first))
    if sampler is not None:  # in place: the WAV is held once, plus the copy getvalue() returns
        append_riff_chunks(buffer, sampler_chunks(sampler, sample_rate_hz=sample_rate_hz, length_frames=length))
    return buffer.getvalue()
