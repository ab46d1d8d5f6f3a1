"""Slice length modes and clean edges on synthetic records whose hits, tempo and meter are known to the sample."""

from __future__ import annotations

import io
import itertools
import struct
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from samplechop.service.engine.bars import BarGrid
from samplechop.service.engine.slices import (
    FADE_IN_S,
    EdgeOptions,
    SamplerInfo,
    clean_slice_wav_bytes,
    render_slice,
    riff_chunks,
)
from samplechop.service.engine.slicing import PRE_ATTACK_S, LengthMode, local_beat_period_s, slice_spans
from tests.synth import SynthRecord, beat_record

BPM = 96.0
RATE = 44_100
BAR_SAMPLES = 4 * 60.0 / BPM * RATE  # 110 250 exactly
PRE = round(PRE_ATTACK_S * RATE)
# A loop span may move back to a zero crossing by up to 3 ms, on top of the pre-attack offset.
LOOP_SLACK = round(0.003 * RATE)


@pytest.fixture(scope="module")
def groove() -> SynthRecord:
    return beat_record(16.0, bpm=BPM, seed=3)


def _grid(beats_s: np.ndarray, meter: int = 4) -> BarGrid:
    return BarGrid(beats_s, np.arange(beats_s.size) % meter + 1, meter, BPM)


def _hits(record: SynthRecord) -> np.ndarray:
    return (record.beats_s * record.sample_rate).astype(np.int64)  # beat_record starts each hit at int(t · rate)


def _spans(record: SynthRecord, chops_s: np.ndarray, grid: BarGrid | None = None, **options: object):
    return slice_spans(
        chops_s,
        record.audio,
        total_samples=record.audio.shape[0],
        sample_rate_hz=record.sample_rate,
        grid=_grid(record.beats_s) if grid is None else grid,
        **options,
    )


def test_starts_sit_a_few_ms_before_the_attack_never_after(groove: SynthRecord) -> None:
    # Chop points off by up to ±20 ms, as 20-ms analysis frames leave them.
    jitter_s = np.random.default_rng(1).uniform(-0.02, 0.02, groove.beats_s.size)
    spans = _spans(groove, groove.beats_s + jitter_s)
    hits = _hits(groove)
    attacks = np.array([span.attack_sample for span in spans])
    starts = np.array([span.start_sample for span in spans])
    assert np.all(np.abs(attacks - hits) <= round(0.001 * RATE)), attacks - hits
    assert np.all(starts <= hits)
    assert np.all(starts >= hits - PRE - round(0.001 * RATE))


def test_to_next_slices_tile_the_record(groove: SynthRecord) -> None:
    spans = _spans(groove, groove.downbeats_s)
    assert all(span.mode is LengthMode.TO_NEXT and not span.loop for span in spans)
    for span, following in itertools.pairwise(spans):
        assert span.end_sample == following.start_sample
    assert spans[-1].end_sample == groove.audio.shape[0]


@pytest.mark.parametrize("bars", [1, 2, 4])
def test_bars_are_whole_bars_to_the_sample_and_begin_on_downbeats(groove: SynthRecord, bars: int) -> None:
    downbeats = groove.downbeats_s[:2]  # 4 bars from the second downbeat still fit the 16-s record
    spans = _spans(groove, downbeats + np.array([0.015, -0.012]), mode="bars", bars=bars)
    hits = _hits(groove)[::4][:2]
    for span, hit in zip(spans, hits, strict=True):
        assert span.mode is LengthMode.BARS and span.loop and span.bars == bars and span.on_downbeat
        assert span.length_samples == round(bars * BAR_SAMPLES)
        assert hit - PRE - LOOP_SLACK - 1 <= span.start_sample <= hit
        assert span.tempo_bpm == pytest.approx(BPM, rel=1e-6)
        assert span.length_beats == pytest.approx(4 * bars, rel=1e-6)
        # It loops in time: the next downbeat's hit sits as far after the end as this one after the start.
        following_hit = hit + round(bars * BAR_SAMPLES)
        assert following_hit - span.end_sample == hit - span.start_sample


def test_bars_on_a_decoded_grid_with_jitter(groove: SynthRecord) -> None:
    # Decoded beats wobble by several ms; the fitted tempo averages that out to a fraction of a percent.
    noisy = groove.beats_s + np.random.default_rng(4).normal(0.0, 0.008, groove.beats_s.size)
    spans = _spans(groove, groove.downbeats_s[:1], grid=_grid(noisy), mode="bars", bars=4)
    (span,) = spans
    assert span.length_samples == pytest.approx(4 * BAR_SAMPLES, rel=0.003)
    # Whole bars at the tempo it reports, to the sample.
    assert span.length_samples == round(4 * 4 * 60.0 / span.tempo_bpm * RATE)


def test_chosen_bar_counts_fit_before_the_next_chop(groove: SynthRecord) -> None:
    downbeats = groove.downbeats_s  # 0.3 s + 2.5 s a bar: 7 downbeats in 16 s
    chops = downbeats[[0, 1, 3, 5]]
    spans = _spans(groove, chops, mode="bars")
    assert [span.bars for span in spans] == [1, 2, 2, 1]  # 1 and 2 bars to the next chop; the record ends after 6.4
    assert all(span.loop for span in spans)


def test_bars_past_the_grids_end_extrapolate_its_tempo(groove: SynthRecord) -> None:
    short_grid = _grid(groove.beats_s[:9])  # the grid stops after two bars
    (span,) = _spans(groove, groove.downbeats_s[4:5], grid=short_grid, mode="bars", bars=1)
    assert span.loop and span.length_samples == round(BAR_SAMPLES)


def test_without_a_grid_bars_fall_back_to_the_next_chop(groove: SynthRecord) -> None:
    spans = _spans(groove, groove.downbeats_s[:2], grid=BarGrid.empty(), mode="bars", bars=2)
    assert [span.mode for span in spans] == [LengthMode.TO_NEXT] * 2
    assert spans[0].end_sample == spans[1].start_sample and spans[0].length_beats is None


def test_max_length_caps_every_mode(groove: SynthRecord) -> None:
    chops = groove.downbeats_s[:1]
    (bars,) = _spans(groove, chops, mode="bars", bars=4, max_length_s=6.0)
    assert bars.bars == 2 and bars.length_samples == round(2 * BAR_SAMPLES)  # fewer whole bars, still a loop
    (tiny,) = _spans(groove, chops, mode="bars", bars=1, max_length_s=1.0)
    assert not tiny.loop and tiny.bars is None and tiny.length_samples == RATE
    (to_next,) = _spans(groove, chops, max_length_s=0.5)
    assert to_next.length_samples == RATE // 2


@pytest.mark.parametrize("beats", [0.25, 1.0, 3.0])
def test_beats_mode(groove: SynthRecord, beats: float) -> None:
    (span,) = _spans(groove, groove.beats_s[5:6], mode="beats", beats=beats)
    assert span.loop and span.length_samples == round(beats * BAR_SAMPLES / 4)
    assert span.length_beats == pytest.approx(beats, rel=1e-4)  # to the sample


def test_one_shots_end_before_the_next_hit(groove: SynthRecord) -> None:
    hits = _hits(groove)
    spans = _spans(groove, groove.beats_s[:-1], mode="one-shot")
    ends = np.array([span.end_sample for span in spans])
    assert all(span.mode is LengthMode.ONE_SHOT and not span.loop for span in spans)
    assert np.all(ends <= hits[1:] - PRE + round(0.001 * RATE))
    # The chords ring on under the hits, so each one-shot runs right up to the next hit, not stopping short.
    assert np.all(ends >= hits[1:] - round(0.015 * RATE))


def test_a_one_shot_ends_where_its_hit_has_died_away() -> None:
    dry = beat_record(6.0, bpm=60.0, chords=False, seed=2)  # lone hits a second apart, decaying in ~0.2 s
    hits = _hits(dry)
    spans = _spans(dry, dry.beats_s[:-1], grid=_grid(dry.beats_s), mode="one-shot")
    lengths_s = np.array([span.length_samples for span in spans]) / RATE
    assert np.all(lengths_s > 0.1) and np.all(lengths_s < 0.5)
    assert np.all(np.array([span.end_sample for span in spans]) < hits[1:] - PRE)
    (capped,) = _spans(dry, dry.beats_s[:1], grid=_grid(dry.beats_s), mode="one-shot", one_shot_max_s=0.05)
    assert capped.end_sample - capped.attack_sample == round(0.05 * RATE)


def test_points_placed_by_hand_are_kept_to_the_sample(groove: SynthRecord) -> None:
    points_s = np.array([1.23, 4.56, 7.891011])
    spans = _spans(groove, points_s, mode="bars", bars=1, find_attacks=False)
    assert [span.start_sample for span in spans] == [round(t * RATE) for t in points_s]
    assert all(span.length_samples == round(BAR_SAMPLES) for span in spans)


def test_local_tempo_follows_a_tempo_change() -> None:
    slow = np.arange(0.0, 20.0, 0.6)  # 100 BPM, then 120 BPM
    beats = np.concatenate([slow, slow[-1] + np.arange(1, 40) * 0.5])
    grid = BarGrid(beats, np.arange(beats.size) % 4 + 1, 4, 110.0)
    assert local_beat_period_s(grid, 5.0, 10.0) == pytest.approx(0.6)
    assert local_beat_period_s(grid, 30.0, 35.0) == pytest.approx(0.5)
    assert local_beat_period_s(grid, 100.0) == pytest.approx(0.5)  # past the end: the last tempo
    assert local_beat_period_s(BarGrid.empty(), 1.0) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "loop"}, "length mode must be one of"),
        ({"mode": "bars", "bars": 3}, "bars must be one of 1, 2, 4"),
        ({"mode": "beats", "beats": 0}, "beats must be more than 0"),
        ({"max_length_s": -1.0}, "max_length must be positive"),
    ],
)
def test_bad_options_are_named(groove: SynthRecord, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _spans(groove, groove.downbeats_s[:1], **options)


# --- clean edges -----------------------------------------------------------------------------------------------


def _seam_jump(samples: np.ndarray) -> float:
    """Largest step between the last and the first frame, over channels: what a sampler plays at the loop seam."""
    return float(np.max(np.abs(samples[0] - samples[-1])))


def _local_slope(original: np.ndarray, at: int, radius: int = 441) -> float:
    """Largest step between neighbouring samples of the original within 10 ms of ``at``."""
    window = original[max(0, at - radius) : at + radius]
    return float(np.max(np.abs(np.diff(window, axis=0))))


@pytest.fixture(scope="module")
def drifting() -> SynthRecord:
    """The groove plus a slowly detuning tone and noise: nothing in it repeats exactly from bar to bar."""
    record = beat_record(16.0, bpm=BPM, seed=5)
    t = np.arange(record.audio.shape[0]) / RATE
    pad = 0.2 * np.sin(2 * np.pi * (97.0 * t + 0.8 * t**2)) + 0.002 * np.random.default_rng(0).standard_normal(t.size)
    audio = record.audio + pad[:, None].astype(np.float32)
    return SynthRecord(audio.astype(np.float32), RATE, record.beats_s, record.downbeats_s)


def test_loop_crossfade_makes_the_seam_continuous(drifting: SynthRecord) -> None:
    spans = _spans(drifting, drifting.beats_s[4:20], mode="beats", beats=2)
    plain, raw = [], []
    for span in spans:
        looped = render_slice(drifting.audio, span.start_sample, span.end_sample, sample_rate_hz=RATE, loop=True)
        assert looped.shape == (span.length_samples, 2)
        # The seam is the original's own continuity: last frame = the frame before the start, first = the start.
        dc = drifting.audio[span.start_sample : span.end_sample].mean(axis=0, dtype=np.float64)  # over 1 s long
        np.testing.assert_allclose(looped[-1], drifting.audio[span.start_sample - 1] - dc, atol=2e-6)
        np.testing.assert_allclose(looped[0], drifting.audio[span.start_sample] - dc, atol=2e-6)
        assert _seam_jump(looped) <= _local_slope(drifting.audio, span.start_sample)
        plain.append(_seam_jump(looped))
        raw.append(_seam_jump(drifting.audio[span.start_sample : span.end_sample]))
    # A plain cut of the same spans clicks: the material does not repeat.
    assert np.mean(raw) > 5 * np.mean(plain)


def test_the_loop_seam_survives_the_wav(drifting: SynthRecord) -> None:
    (span,) = _spans(drifting, drifting.downbeats_s[2:3], mode="bars", bars=1)
    data = clean_slice_wav_bytes(
        drifting.audio, span.start_sample, span.end_sample, sample_rate_hz=RATE, channels=2, bit_depth=24, loop=True
    )
    decoded, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == RATE and decoded.shape == (span.length_samples, 2)
    assert _seam_jump(decoded) <= _local_slope(drifting.audio, span.start_sample) + 2**-22


def test_fades_and_dc_removal() -> None:
    record = beat_record(8.0, bpm=BPM, seed=6)
    offset = np.float32(0.2)
    audio = record.audio + offset  # a record with a DC offset
    spans = _spans(SynthRecord(audio, RATE, record.beats_s, record.downbeats_s), record.beats_s[2:4], mode="to-next")
    span = spans[0]
    sliced = render_slice(audio, span.start_sample, span.end_sample, sample_rate_hz=RATE)
    assert np.all(sliced[0] == 0.0) and np.all(sliced[-1] == 0.0)  # no step in, no step out
    assert abs(float(sliced.mean())) < 0.01  # the offset is gone
    fade = round(FADE_IN_S * RATE)
    assert np.all(np.abs(np.diff(sliced[: fade + 1], axis=0)) < 0.05)  # a gentle ramp
    # The attack itself is untouched (it lies after the fade-in): only the offset is removed there.
    attack = span.attack_sample - span.start_sample
    dc = audio[max(0, span.start_sample - RATE) : span.end_sample + RATE].mean(axis=0)
    np.testing.assert_allclose(
        sliced[attack : attack + 200], audio[span.attack_sample : span.attack_sample + 200] - dc, atol=1e-3
    )
    untouched = render_slice(
        audio, span.start_sample, span.end_sample, sample_rate_hz=RATE, edges=EdgeOptions(remove_dc=False)
    )
    assert abs(float(untouched[fade:-fade].mean()) - offset) < 0.02


@pytest.mark.parametrize(("channels", "rate", "bit_depth"), [(1, 48_000, 16), (2, 44_100, 24), (2, 22_050, 16)])
def test_slices_keep_rate_channels_and_bit_depth(channels: int, rate: int, bit_depth: int) -> None:
    record = beat_record(4.0, bpm=BPM, channels=channels, rate=rate, seed=7)
    data = clean_slice_wav_bytes(
        record.audio, 1000, 1000 + rate, sample_rate_hz=rate, channels=channels, bit_depth=bit_depth
    )
    info = sf.info(io.BytesIO(data))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (rate, channels, rate, f"PCM_{bit_depth}")


def test_smpl_and_acid_chunks_carry_the_loop_note_and_tempo(groove: SynthRecord) -> None:
    (span,) = _spans(groove, groove.downbeats_s[:1], mode="bars", bars=2)
    sampler = SamplerInfo(unity_note=37, loop=True, tempo_bpm=span.tempo_bpm, beats=span.length_beats, beats_per_bar=4)
    data = clean_slice_wav_bytes(
        groove.audio,
        span.start_sample,
        span.end_sample,
        sample_rate_hz=RATE,
        channels=2,
        bit_depth=16,
        loop=True,
        sampler=sampler,
    )
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    chunks = {identifier: (offset, size) for identifier, offset, size in riff_chunks(data)}
    offset, size = chunks[b"smpl"]
    assert size == 36 + 24
    header = struct.unpack("<9I", data[offset : offset + 36])
    assert header[2] == round(1e9 / RATE) and header[3] == 37 and header[7] == 1
    _, kind, loop_start, loop_end, _, play_count = struct.unpack("<6I", data[offset + 36 : offset + 60])
    assert (kind, loop_start, loop_end, play_count) == (0, 0, span.length_samples - 1, 0)
    offset, size = chunks[b"acid"]
    flags, root, _, _, beats, denominator, numerator, tempo = struct.unpack("<IHHfIHHf", data[offset : offset + size])
    assert flags & 0x02 and not flags & 0x01 and root == 37
    assert (beats, numerator, denominator) == (8, 4, 4) and tempo == pytest.approx(BPM, rel=1e-5)
    # The audio is untouched by the extra chunks.
    info = sf.info(io.BytesIO(data))
    assert info.frames == span.length_samples


def test_a_one_shot_has_no_loop_in_its_smpl_chunk(groove: SynthRecord) -> None:
    data = clean_slice_wav_bytes(
        groove.audio, 1000, 5001, sample_rate_hz=RATE, channels=2, bit_depth=24, sampler=SamplerInfo(unity_note=40)
    )
    chunks = {identifier: (offset, size) for identifier, offset, size in riff_chunks(data)}
    offset, size = chunks[b"smpl"]
    assert size == 36 and struct.unpack("<9I", data[offset : offset + 36])[7] == 0
    assert b"acid" not in chunks  # no tempo given
    assert sf.info(io.BytesIO(data)).frames == 4001  # odd 24-bit stereo data: the pad byte keeps chunks aligned


def test_a_long_slice_is_written_a_block_at_a_time() -> None:
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (60 * RATE, 2)).astype(np.float32)  # a minute, 21 MB
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        data = clean_slice_wav_bytes(
            audio,
            RATE,
            audio.shape[0],
            sample_rate_hz=RATE,
            channels=2,
            bit_depth=16,
            loop=True,
            sampler=SamplerInfo(unity_note=36, loop=True, tempo_bpm=BPM, beats=94, beats_per_bar=4),
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sf.info(io.BytesIO(data)).frames == audio.shape[0] - RATE
    # The WAV, the copy getvalue() returns, and a block or two: never the slice as float32 (twice the WAV).
    assert peak - before < 2 * len(data) + 8 * 2**20
