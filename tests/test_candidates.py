"""Candidate chop points, harmonic vectors and diversification: the engine's steps on arrays with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from samplechop.service.engine.candidates import local_peaks, pick_candidates, snap_to_onsets, suppress_near, window_max
from samplechop.service.engine.diversify import pairwise_distances, select_diverse
from samplechop.service.engine.harmonic import harmonic_vectors, softmask

RATE = 50.0


def _pick(**overrides):
    frames = 1000  # 20 s
    arguments = dict(
        beats_s=np.arange(0.5, 19.5, 0.5),
        downbeats_s=np.arange(0.5, 19.5, 2.0),
        chop_activation=np.zeros(frames, np.float32),
        onset_envelope=np.zeros(frames, np.float32),
        frame_rate_hz=RATE,
        duration_s=frames / RATE,
        threshold=0.5,
        top_n=16,
        minimum=8,
        min_distance_s=0.25,
        snap_radius_frames=2,
    )
    arguments.update(overrides)
    return pick_candidates(**arguments)


def test_downbeats_rank_before_chop_peaks_before_other_beats() -> None:
    chop = np.zeros(1000, np.float32)
    chop[int(7.25 * RATE)] = 0.9  # a chord change off the beat grid: between beats
    chop[int(4.5 * RATE)] = 0.3  # the chop head on a downbeat (4.5 s) makes it the best downbeat
    candidates = _pick(chop_activation=chop, downbeats_s=np.arange(0.5, 8.0, 2.0), minimum=2)
    times = candidates.times_s
    assert times[0] == pytest.approx(4.5)
    downbeats = candidates.on_downbeat
    assert downbeats[:4].all() and not downbeats[4:].any()
    assert times[4] == pytest.approx(7.24, abs=0.02)
    assert np.all(np.diff(candidates.scores) <= 0)
    # enough candidates without plain beats: they are not added
    assert candidates.size == 5


def test_too_few_candidates_fill_up_with_beats() -> None:
    candidates = _pick(downbeats_s=np.array([0.5, 2.5]), minimum=8)
    assert candidates.size >= 8
    assert candidates.on_downbeat[:2].all()
    assert set(np.round(candidates.times_s, 3)) <= set(np.round(np.arange(0.5, 19.5, 0.5), 3))


def test_candidates_keep_their_distance_and_room_at_the_end() -> None:
    candidates = _pick(beats_s=np.arange(0.1, 20.0, 0.1), downbeats_s=np.arange(0.1, 20.0, 0.4), min_distance_s=0.35)
    times = np.sort(candidates.times_s)
    assert np.all(np.diff(times) >= 0.35 - 1e-9)
    assert times.max() < 20.0 - 0.35


def test_snapping_moves_to_an_onset_peak_only_when_there_is_one() -> None:
    envelope = np.zeros(200, np.float32)
    envelope[51] = 1.0
    snapped = snap_to_onsets(np.array([1.0, 3.013]), envelope, RATE, 2)
    np.testing.assert_allclose(snapped, [51 / RATE, 3.013])


def test_suppression_equals_the_greedy_definition() -> None:
    rng = np.random.default_rng(4)
    times, scores = rng.uniform(0, 30, 300), rng.random(300)
    kept = suppress_near(times, scores, 0.5)
    expected: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if all(abs(times[index] - times[other]) >= 0.5 for other in expected):
            expected.append(int(index))
    np.testing.assert_array_equal(kept, expected)


def test_window_max_and_local_peaks() -> None:
    values = np.array([0.0, 0.2, 0.9, 0.1, 0.0, 0.5, 0.5, 0.0], np.float32)
    np.testing.assert_allclose(window_max(values, np.array([0, 4, 7]), 1), [0.2, 0.5, 0.5])
    np.testing.assert_array_equal(local_peaks(values), [2, 5])


def test_softmask_equals_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    reference, other = rng.random((20, 30)), rng.random((20, 30))
    reference[0, :5] = other[0, :5] = 0.0
    np.testing.assert_allclose(
        softmask(reference, other), librosa.util.softmask(reference, other, power=2.0, split_zeros=False), atol=1e-12
    )


def test_harmonic_vectors_tell_chords_apart_and_ignore_drums() -> None:
    frames, bands = 400, 60
    spectrum = np.zeros((frames, bands), np.float32)
    spectrum[:200, [10, 14, 17]] = 1.0  # chord A, held
    spectrum[200:, [12, 15, 19]] = 1.0  # chord B, held
    spectrum[::25] += 0.8  # broadband drum hits every half second
    vectors = harmonic_vectors(spectrum, np.array([20, 120, 220, 320]), window_frames=50)
    assert vectors.shape == (4, bands)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    same, different = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert same > 0.95 and different < 0.5


def test_lambda_zero_takes_the_best_scored() -> None:
    vectors = np.eye(5)
    assert select_diverse(np.array([0.1, 0.9, 0.5, 0.7, 0.3]), vectors, 3, 0.0) == [1, 3, 2]


def test_lambda_near_one_spreads_over_distinct_material() -> None:
    vectors = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [0.98, 0.02]])
    chosen = select_diverse(np.array([0.9, 0.85, 0.2, 0.8]), vectors, 2, 0.999)
    assert chosen == [0, 2]


def test_identical_candidates_divide_by_nothing() -> None:
    distances = pairwise_distances(np.ones((4, 3)))
    assert np.all(distances == 0)
    assert len(select_diverse(np.array([0.5, 0.4, 0.3, 0.2]), np.ones((4, 3)), 3, 0.999)) == 3
