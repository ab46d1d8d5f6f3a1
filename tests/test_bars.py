"""The bar decoder on synthetic activations whose right answers are known: click grids in 4/4 and 3/4, tempo
changes and ramps, noise, decoys, silence, bad input, and a click track rendered to audio and back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from samplechop.service.engine.bars import BarGrid, decode_bars

FPS = 50.0  # the engine's frame rate
WINDOW_S = 0.07  # the beat-tracking evaluation window (mir_eval's default)


def beat_times(bpm_at: Callable[[float], float], start_s: float, seconds: float) -> np.ndarray:
    """Beat times from a tempo curve: each beat's interval is 60 / bpm_at(time of the beat)."""
    times = [start_s]
    while times[-1] + 60.0 / bpm_at(times[-1]) < seconds - 0.05:
        times.append(times[-1] + 60.0 / bpm_at(times[-1]))
    return np.asarray(times)


def activations(
    beats_s: np.ndarray,
    downbeats_s: np.ndarray,
    seconds: float,
    *,
    beat_peaks: np.ndarray | float = 0.9,
    downbeat_peaks: np.ndarray | float = 0.8,
    noise: float = 0.02,
    sigma_s: float = 0.015,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Network-like activations at FPS: a Gaussian bump of the given height at each event over uniform noise."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * FPS)
    times = np.arange(frames) / FPS
    beat, downbeat = rng.uniform(0, noise, frames), rng.uniform(0, noise, frames)
    for target, events, peaks in ((beat, beats_s, beat_peaks), (downbeat, downbeats_s, downbeat_peaks)):
        heights = np.broadcast_to(np.asarray(peaks, dtype=float), np.shape(events))
        for time_s, height in zip(events, heights, strict=True):
            centre = round(time_s * FPS)
            low, high = max(0, centre - 3), min(frames, centre + 4)
            bump = height * np.exp(-0.5 * ((times[low:high] - time_s) / sigma_s) ** 2)
            target[low:high] = np.maximum(target[low:high], bump)
    return beat, downbeat


def f_measure(reference_s: np.ndarray, estimate_s: np.ndarray, window_s: float = WINDOW_S) -> float:
    """Beat F-measure: each reference beat matches at most one estimate within ±window_s (greedy, nearest first).

    Greedy equals mir_eval's maximum matching when beats are more than two windows apart (checked below).
    """
    if reference_s.size == 0 or estimate_s.size == 0:
        return 0.0
    used = np.zeros(estimate_s.size, dtype=bool)
    hits = 0
    for time_s in reference_s:
        distance = np.where(used, np.inf, np.abs(estimate_s - time_s))
        nearest = int(np.argmin(distance))
        if distance[nearest] <= window_s:
            used[nearest] = True
            hits += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / estimate_s.size, hits / reference_s.size
    return 2 * precision * recall / (precision + recall)


def decode(beat: np.ndarray, downbeat: np.ndarray, **knobs: object) -> BarGrid:
    return decode_bars(beat, downbeat, frame_rate_hz=FPS, **knobs)


def assert_consistent(grid: BarGrid) -> None:
    """Sorted beats, positions in 1..meter counting up through each bar, downbeats = position 1."""
    assert grid.beats_s.dtype == np.float64 and grid.positions.dtype == np.int64
    assert np.all(np.diff(grid.beats_s) > 0)
    assert grid.positions.min() >= 1 and grid.positions.max() <= max(grid.beats_per_bar, 4)
    following = grid.positions[1:]
    assert np.all((following == grid.positions[:-1] + 1) | (following == 1))
    np.testing.assert_array_equal(grid.downbeats_s, grid.beats_s[grid.positions == 1])


def test_four_four_at_120_bpm() -> None:
    beats = beat_times(lambda _: 120.0, 0.5, 60.0)
    grid = decode(*activations(beats, beats[::4], 60.0))
    assert_consistent(grid)
    assert f_measure(beats, grid.beats_s) > 0.99
    assert f_measure(beats[::4], grid.downbeats_s) > 0.99
    assert grid.beats_per_bar == 4
    assert grid.tempo_bpm == pytest.approx(120.0, rel=0.02)


def test_three_four_at_90_bpm() -> None:
    beats = beat_times(lambda _: 90.0, 0.7, 60.0)
    grid = decode(*activations(beats, beats[::3], 60.0))
    assert_consistent(grid)
    assert f_measure(beats, grid.beats_s) > 0.99
    assert f_measure(beats[::3], grid.downbeats_s) > 0.99
    assert grid.beats_per_bar == 3
    assert set(grid.positions.tolist()) == {1, 2, 3}
    assert grid.tempo_bpm == pytest.approx(90.0, rel=0.02)


def test_tempo_change_mid_record_from_100_to_124_bpm() -> None:
    beats = beat_times(lambda t: 100.0 if t < 25.0 else 124.0, 0.3, 60.0)
    grid = decode(*activations(beats, beats[::4], 60.0))
    assert_consistent(grid)
    assert f_measure(beats, grid.beats_s) > 0.98
    assert f_measure(beats[::4], grid.downbeats_s) > 0.95
    # More of the record is at 124 BPM, so that is the median tempo; each section's own tempo is right too.
    assert grid.tempo_bpm == pytest.approx(124.0, rel=0.02)
    intervals = np.diff(grid.beats_s)
    before, after = grid.beats_s[1:] < 24.0, grid.beats_s[:-1] > 26.0
    assert 60.0 / np.median(intervals[before]) == pytest.approx(100.0, rel=0.02)
    assert 60.0 / np.median(intervals[after]) == pytest.approx(124.0, rel=0.02)


def test_tempo_ramp_is_followed() -> None:
    seconds = 60.0
    beats = beat_times(lambda t: 90.0 + 30.0 * t / seconds, 0.3, seconds)
    grid = decode(*activations(beats, beats[::4], seconds))
    assert_consistent(grid)
    assert f_measure(beats, grid.beats_s) > 0.98
    assert f_measure(beats[::4], grid.downbeats_s) > 0.95
    local_bpm = 60.0 / np.diff(grid.beats_s)
    assert np.median(local_bpm[:8]) == pytest.approx(91.0, rel=0.03)
    assert np.median(local_bpm[-8:]) == pytest.approx(119.0, rel=0.03)
    assert grid.tempo_bpm == pytest.approx(60.0 / np.median(np.diff(beats)), rel=0.02)


def test_noisy_activations_with_missed_beats_and_spurious_peaks() -> None:
    rng = np.random.default_rng(3)
    seconds = 60.0
    beats = beat_times(lambda _: 112.0, 0.4, seconds)
    played = beats + rng.uniform(-0.01, 0.01, beats.size)  # human timing
    heard = rng.random(beats.size) > 0.15  # the network misses 15 % of the beats entirely
    spurious = rng.uniform(0.0, seconds, 60)  # one stray peak a second
    beat_peaks = np.where(heard, rng.uniform(0.5, 0.95, beats.size), 0.0)
    beat, downbeat = activations(
        np.concatenate([played, spurious]),
        played[::4],
        seconds,
        beat_peaks=np.concatenate([beat_peaks, rng.uniform(0.3, 0.8, spurious.size)]),
        downbeat_peaks=np.where(heard[::4], 0.8, 0.0),
        noise=0.15,
        seed=4,
    )
    grid = decode(beat, downbeat)
    assert_consistent(grid)
    assert f_measure(played, grid.beats_s) > 0.95
    assert f_measure(played[::4], grid.downbeats_s) > 0.9
    assert grid.beats_per_bar == 4
    assert grid.tempo_bpm == pytest.approx(112.0, rel=0.02)


@pytest.mark.parametrize("decoy", [0.3, 0.45])
def test_off_beat_decoy_weaker_than_the_beats_stays_out(decoy: float) -> None:
    # 90 BPM with a peak on every off-beat: 180 BPM is in range. The downbeat activation fires on every beat, so
    # only the beat strengths can tell the octave.
    beats = beat_times(lambda _: 90.0, 0.4, 60.0)
    off_beats = beats[:-1] + 60.0 / 90.0 / 2
    beat, downbeat = activations(
        np.concatenate([beats, off_beats]),
        beats,
        60.0,
        beat_peaks=np.concatenate([np.full(beats.size, 0.9), np.full(off_beats.size, decoy)]),
        downbeat_peaks=0.3,
    )
    grid = decode(beat, downbeat)
    assert f_measure(beats, grid.beats_s) > 0.99
    assert grid.tempo_bpm == pytest.approx(90.0, rel=0.02)


def test_weaker_alternate_beats_are_still_beats() -> None:
    # The other side of the decoy test: beats 2 and 4 at two thirds of beats 1 and 3 are beats, not decoys.
    beats = beat_times(lambda _: 150.0, 0.4, 60.0)
    peaks = np.where(np.arange(beats.size) % 2 == 0, 0.9, 0.6)
    grid = decode(*activations(beats, beats[::4], 60.0, beat_peaks=peaks))
    assert f_measure(beats, grid.beats_s) > 0.99
    assert grid.tempo_bpm == pytest.approx(150.0, rel=0.02)


def test_a_diffident_network_still_gives_the_full_grid() -> None:
    # Beat peaks of only 0.35 (off-beats 0.1): below 0.5 every beat has negative plain log-odds, which would favour
    # half tempo; the decoder judges beats against this record's typical peak instead.
    beats = beat_times(lambda _: 120.0, 0.5, 60.0)
    off_beats = beats[:-1] + 0.25
    beat, downbeat = activations(
        np.concatenate([beats, off_beats]),
        beats[::4],
        60.0,
        beat_peaks=np.concatenate([np.full(beats.size, 0.35), np.full(off_beats.size, 0.1)]),
        downbeat_peaks=0.25,
    )
    grid = decode(beat, downbeat)
    assert f_measure(beats, grid.beats_s) > 0.99
    assert f_measure(beats[::4], grid.downbeats_s) > 0.99
    assert grid.tempo_bpm == pytest.approx(120.0, rel=0.02)


def test_meter_switches_at_a_section_change_but_not_for_one_stray_downbeat() -> None:
    beats = beat_times(lambda _: 100.0, 0.5, 70.0)
    four_four = 48  # 12 bars of 4/4 (29 s), then 3/4 (41 s)
    downbeats = np.concatenate([beats[:four_four:4], beats[four_four::3]])
    grid = decode(*activations(beats, downbeats, 70.0))
    assert_consistent(grid)
    assert f_measure(downbeats, grid.downbeats_s) > 0.97
    assert grid.beats_per_bar == 3  # 3/4 holds more of the beats
    bar_s = np.diff(grid.downbeats_s)
    assert np.all(bar_s[grid.downbeats_s[1:] < 29.0] == pytest.approx(2.4, abs=0.03))
    assert np.all(bar_s[grid.downbeats_s[:-1] > 29.5] == pytest.approx(1.8, abs=0.03))

    steady = beats[::4]
    stray = np.concatenate([steady, [beats[42]]])  # one strong downbeat peak on a beat 3
    grid = decode(*activations(beats, stray, 70.0))
    assert f_measure(steady, grid.downbeats_s) > 0.99
    assert grid.beats_per_bar == 4


def test_fixed_meter_is_respected() -> None:
    beats = beat_times(lambda _: 96.0, 0.5, 40.0)
    beat, downbeat = activations(beats, beats[::4], 40.0)
    assert decode(beat, downbeat, meters=(4,)).beats_per_bar == 4
    forced = decode(beat, downbeat, meters=(3,))
    assert forced.beats_per_bar == 3
    assert set(forced.positions.tolist()) == {1, 2, 3}
    assert f_measure(beats, forced.beats_s) > 0.99  # the beats do not depend on the bar


def test_beats_are_refined_below_the_frame() -> None:
    # At 124 BPM the beats fall between frames; the parabola through the peak puts them back within a few ms.
    beats = beat_times(lambda _: 124.0, 0.31, 40.0)
    grid = decode(*activations(beats, beats[::4], 40.0, noise=0.0))
    assert grid.beats_s.size == beats.size
    error_s = np.abs(grid.beats_s - beats)
    assert error_s.max() < 1.0 / FPS  # within a frame
    assert error_s.mean() < 0.004  # and much better than the 10-ms rounding to frames on average


def test_no_beats_in_leading_and_trailing_silence() -> None:
    beats = beat_times(lambda _: 118.0, 8.0, 50.0)
    beat, downbeat = activations(beats, beats[::4], 60.0, noise=0.0)
    grid = decode(beat, downbeat)
    assert f_measure(beats, grid.beats_s) > 0.99
    assert grid.beats_s[0] > 8.0 - WINDOW_S and grid.beats_s[-1] < 50.0


@pytest.mark.parametrize(
    "beat",
    [np.zeros(3000), np.full(3000, 0.01), np.zeros(0), np.full(10, 0.9), np.array([0.0, 1.0, 0.0])],
    ids=["silence", "below-threshold", "no-frames", "ten-frames", "one-peak"],
)
def test_silence_and_very_short_inputs_give_an_empty_grid(beat: np.ndarray) -> None:
    grid = decode(beat, np.zeros_like(beat))
    assert grid.beats_s.size == 0 and grid.positions.size == 0 and grid.downbeats_s.size == 0
    assert grid.beats_per_bar == 0 and grid.tempo_bpm == 0.0


def test_empty_grid_and_frozen_arrays() -> None:
    empty = BarGrid.empty()
    assert empty.beats_s.dtype == np.float64 and empty.positions.dtype == np.int64
    grid = decode(*activations(beat_times(lambda _: 120.0, 0.5, 20.0), np.zeros(0), 20.0))
    with pytest.raises(ValueError):
        grid.beats_s[0] = 1.0  # read-only: the grid cannot be changed behind its back
    with pytest.raises(ValueError, match="positions"):
        BarGrid(np.array([0.5, 1.0]), np.array([1]), 4, 120.0)
    with pytest.raises(ValueError, match="sorted"):
        BarGrid(np.array([1.0, 0.5]), np.array([1, 2]), 4, 120.0)


@pytest.mark.parametrize(
    ("beat", "downbeat", "knobs", "message"),
    [
        (np.zeros(100), np.zeros(99), {}, "frames"),
        (np.full(100, np.nan), np.zeros(100), {}, "NaN"),
        (np.zeros((10, 10)), np.zeros((10, 10)), {}, "one-dimensional"),
        (np.full(100, 1.5), np.zeros(100), {}, r"\[0, 1\]"),
        (np.zeros(100), np.zeros(100), {"frame_rate_hz": 0.0}, "frame_rate_hz"),
        (np.zeros(100), np.zeros(100), {"min_bpm": 200.0, "max_bpm": 100.0}, "min_bpm"),
        (np.zeros(100), np.zeros(100), {"meters": ()}, "meters"),
        (np.zeros(100), np.zeros(100), {"meters": (1, 4)}, "meters"),
        (np.zeros(100), np.zeros(100), {"meters": (3.5,)}, "meters"),
        (np.zeros(100), np.zeros(100), {"meter_change_log_prob": 1.0}, "log-probability"),
        (np.zeros(100), np.zeros(100), {"relative_beat_threshold": 0.0}, "relative_beat_threshold"),
        (np.zeros(100), np.zeros(100), {"frame_rate_hz": None}, "frame_rate_hz"),
        (np.zeros(100), np.zeros(100), {"tempo_prior_bpm": (160.0, 70.0)}, "tempo_prior_bpm"),
    ],
)
def test_bad_input_is_a_clear_error(
    beat: np.ndarray, downbeat: np.ndarray, knobs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"frame_rate_hz": FPS, **knobs}
    with pytest.raises(ValueError, match=message):
        decode_bars(beat, downbeat, **arguments)  # type: ignore[arg-type]


def _click_track(bpm: float, meter: int, seconds: float, rate: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Audio of a metronome: a 2.5-kHz click on each downbeat, a 700-Hz click on the other beats, over noise."""
    rng = np.random.default_rng(seed)
    audio = 0.01 * rng.standard_normal(int(seconds * rate))
    beats = beat_times(lambda _: bpm, 0.6, seconds - 0.2)
    click_t = np.arange(int(0.03 * rate)) / rate
    for number, time_s in enumerate(beats):
        pitch_hz = 2500.0 if number % meter == 0 else 700.0
        click = 0.5 * np.sin(2 * np.pi * pitch_hz * click_t) * np.exp(-click_t * 150.0)
        start = int(time_s * rate)
        audio[start : start + click.size] += click
    return audio, beats


def _envelope_activations(audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A simple stand-in for the network: rectified log-energy rise per 20-ms frame, over all frequencies (beat)
    and above 1.5 kHz (downbeat), scaled to [0, 1]."""
    hop = int(rate / FPS)
    frames = audio.size // hop
    spectrum = np.abs(np.fft.rfft(audio[: frames * hop].reshape(frames, hop) * np.hanning(hop), axis=1)) ** 2
    high = np.fft.rfftfreq(hop, 1.0 / rate) > 1500.0

    def onset(energy: np.ndarray) -> np.ndarray:
        rise = np.maximum(np.diff(np.log(energy + 1e-6), prepend=np.log(energy[0] + 1e-6)), 0.0)
        return rise / rise.max()

    return onset(spectrum.sum(axis=1)), onset(spectrum[:, high].sum(axis=1))


@pytest.mark.parametrize(("bpm", "meter"), [(100.0, 3), (126.0, 4)])
def test_click_track_audio_through_an_energy_envelope(bpm: float, meter: int) -> None:
    rate = 16_000
    audio, beats = _click_track(bpm, meter, 30.0, rate, seed=int(bpm))
    beat, downbeat = _envelope_activations(audio, rate)
    grid = decode_bars(beat, downbeat, frame_rate_hz=FPS)
    assert_consistent(grid)
    assert f_measure(beats, grid.beats_s) > 0.98
    assert f_measure(beats[::meter], grid.downbeats_s) > 0.95
    assert grid.beats_per_bar == meter
    assert grid.tempo_bpm == pytest.approx(bpm, rel=0.02)


def test_a_ten_minute_record() -> None:
    # The block-wise decoder over 30 000 frames: still on the grid at the end (no drift, no precision loss).
    seconds = 600.0
    beats = beat_times(lambda _: 123.0, 0.5, seconds)
    grid = decode(*activations(beats, beats[::4], seconds))
    assert f_measure(beats, grid.beats_s) > 0.99
    assert f_measure(beats[-40:], grid.beats_s[grid.beats_s > beats[-40] - 0.2]) > 0.99
    assert grid.tempo_bpm == pytest.approx(123.0, rel=0.02)


def test_f_measure_helper_agrees_with_mir_eval() -> None:
    mir_eval = pytest.importorskip("mir_eval")  # mir_eval==0.8.2 in the test environment
    rng = np.random.default_rng(11)
    reference = beat_times(lambda _: 107.0, 0.5, 40.0)
    kept = reference[rng.random(reference.size) > 0.2]
    estimate = kept + rng.uniform(-0.09, 0.09, kept.size)  # some inside the window, some outside
    strays = reference[:-1] + 0.28  # between beats, more than two windows from any other estimate
    estimate = np.sort(np.concatenate([estimate, strays[rng.random(strays.size) > 0.7]]))
    expected = mir_eval.beat.f_measure(reference, estimate, f_measure_threshold=WINDOW_S)
    assert 0.3 < expected < 0.9  # a case where the matching matters
    assert f_measure(reference, estimate) == pytest.approx(expected, abs=1e-12)


def _reference_best_score(
    observations: np.ndarray, intervals: np.ndarray, cost: np.ndarray, prior: np.ndarray, switch: float
) -> float:
    """The optimum of the semi-Markov chain the decoder solves, by a direct dynamic programme over every frame
    (meters 3 and 4: positions 0–2 and 3–6), with none of the decoder's blocks, doublings or float32."""
    frames, positions = observations.shape
    previous = np.array([2, 0, 1, 6, 3, 4, 5])
    lasts, downbeats = np.array([2, 6]), np.array([0, 3])
    best = np.full((frames, intervals.size, positions), -np.inf)
    for t in range(frames):
        starts = t - intervals
        first = starts < 0  # a first beat: nothing before it but the prior
        best[t, first] = observations[t][None, :] + prior[first, None]
        valid = np.flatnonzero(~first)
        if valid.size == 0:
            continue
        # before[i, j'] = max over i' of best[t − d_i, i', j'] − cost[i', i]
        before = np.max(best[starts[valid]] - cost[:, valid].T[:, :, None], axis=1)
        incoming = before[:, previous]
        entries = before[:, lasts]
        for meter, downbeat in enumerate(downbeats):
            incoming[:, downbeat] = np.max(entries + np.where(np.arange(2) == meter, 0.0, switch), axis=1)
        best[t, valid] = observations[t][None, :] + prior[valid, None] + incoming
    tail = np.arange(frames - intervals[-1], frames)
    ends = tail[:, None] + intervals[None, :] >= frames
    return float(np.max(np.where(ends[:, :, None], best[tail], -np.inf)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_decoder_finds_the_optimum_of_a_direct_dynamic_programme(seed: int) -> None:
    from samplechop.service.engine import bars

    rng = np.random.default_rng(seed)
    frames = 400
    beat = np.clip(rng.beta(0.4, 2.0, frames), 0.0, 1.0)  # random peaks everywhere: many near-optimal paths
    downbeat = beat * rng.uniform(0.0, 1.0, frames)
    layout = bars._layout((3, 4))
    intervals = np.arange(14, 55)
    observations = bars._log_odds_observations(beat, downbeat, layout, bias=0.3)
    prior = bars._tempo_log_prior(60 * FPS / intervals, (70.0, 160.0), 1.0).astype(np.float32)
    transition = bars._Transition.build(intervals, 100.0, 0.5)
    switch = np.float32(-3.0)  # cheap, so the random path does switch meters
    frames_found, states = bars._viterbi(observations, intervals, layout, transition, switch, prior)

    # Score the decoder's path exactly; its first beat takes the best first interval it could have had.
    obs = observations.astype(np.float64)
    cost, prior64 = transition.cost.astype(np.float64), prior.astype(np.float64)
    gaps = np.diff(frames_found)
    tempo = np.searchsorted(intervals, gaps)
    assert np.array_equal(intervals[tempo], gaps)
    score = obs[frames_found, states].sum() + prior64[tempo].sum() - cost[tempo[:-1], tempo[1:]].sum()
    possible_first = intervals > frames_found[0]
    score += np.max(np.where(possible_first, prior64 - cost[:, tempo[0]], -np.inf))
    meters = layout.meters[states]
    score += float(switch) * np.count_nonzero(meters[1:] != meters[:-1])
    assert frames_found[-1] + gaps[-1] >= frames  # the last beat's next one would fall after the end

    assert score == pytest.approx(_reference_best_score(obs, intervals, cost, prior64, float(switch)), abs=1e-2)


def test_tempo_transition_steps_equal_the_dense_cost_matrix() -> None:
    from samplechop.service.engine import bars

    intervals = np.arange(14, 55)
    transition = bars._Transition.build(intervals, 100.0, 0.5)
    scores = np.random.default_rng(5).normal(0.0, 20.0, (intervals.size, 30)).astype(np.float32)
    dense = np.max(scores[:, None, :] - transition.cost[:, :, None], axis=0)
    stepped = scores.copy()
    transition.apply(stepped)
    np.testing.assert_allclose(stepped, dense, atol=1e-3)
    # The documented cost: one-step changes cost the jitter allowance, larger ones λ·|Δ log d| beyond one step.
    assert transition.cost[20, 21] == pytest.approx(0.5)
    assert transition.cost[20, 25] == pytest.approx(0.5 + 100.0 * np.log(intervals[25] / intervals[21]), rel=1e-5)
    assert np.isinf(transition.cost[0, 40])  # beyond one beat's reach
