"""Feature spec 2: one spectral front end in numpy/scipy (no librosa, no numba).

Every record is analysed as mono float32 at 22 050 Hz with a hop of 441 samples: 50 frames a second, frame ``i``
centred on sample ``i * hop_length`` (the signal is padded with ``n_fft // 2`` zeros at each end, so a record of
``n`` samples has ``1 + n // hop_length`` frames, as librosa's ``center=True`` gives).

Per frame (:func:`compute_features`):

- ``log_bands``: an STFT (1024-point periodic Hann, 46 ms) folded into a logarithmic triangular filterbank, 12
  bands an octave centred on the equal-tempered semitones (A4 = 440 Hz) from 30 Hz to Nyquist; bands narrower
  than an FFT bin at the bottom are merged, as madmom's ``LogarithmicFilterbank(unique_filters=True)`` does (the
  filters are madmom's design, written here from its description). Each filter sums to 1, so a band holds the
  weighted mean magnitude of its bins; it is compressed as ``log10(1 + log_multiplier * magnitude)``.
- ``flux``: the positive first difference of ``log_bands`` along time (``flux_lag_frames`` apart; 0 at the
  first frames), and ``onset_envelope``, its sum over bands.
- ``chroma``: 12 pitch classes (C, C#, …, B) of the power spectrum from A1 to G#5 (53–855 Hz with the half
  semitones at the ends). A 1024-point FFT at 22 050 Hz resolves a semitone only above ~360 Hz (and a 2048-point
  one above ~180 Hz), which loses the bass that names a chord, so the chroma has its own STFT of the signal
  low-passed and decimated 9× (to 2450 Hz, one 89-tap polyphase FIR, ≥ 50 dB against aliases): a 1024-point
  window there is 418 ms long with 2.4 Hz bins, a semitone wide at 41 Hz. It is taken every second frame and
  interpolated (the window spans ~20 frames), so it costs about half the main STFT; a second full-rate FFT of
  4096 points at this hop (the usual way) measured 0.24 s for 3 minutes on the 2-core dev box, three times the
  whole budget. Each frame is divided by its largest class, floored at the energy of a sine ``chroma_floor_db``
  below full scale, so values lie in [0, 1] and silence or hiss stays near 0.

``model_input`` is ``[log_bands | flux | chroma]`` concatenated (see :attr:`SpectralSpec.band_slice` and
friends): fixed compression, no per-record normalisation; with full-scale audio ``log_bands`` and ``flux`` stay
below ~2.5 and ``chroma`` in [0, 1].

Memory is linear in the record: both STFTs run in blocks of frames and never pad or frame the whole signal.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
N_CHROMA = len(PITCH_CLASSES)
# Frames per STFT block: a 1024-point block of 512 frames is 2 MiB of samples and 2 MiB of spectrum, small
# enough to stay in cache on the 2-core dev machine and large enough that per-call overhead is negligible.
BLOCK_FRAMES = 512
# Samples per block of the decimation filters (same reasoning: a few MiB at a time).
DECIMATION_BLOCK_SAMPLES = 1 << 18
# Multiply-adds per BLAS call: OpenBLAS runs a product this small on the calling thread (its threading
# threshold is 4 × 65536). Threaded products stall on a busy 2-core machine (measured on the dev box with a
# trainer running: a 2.9 M multiply-add product 0.2 ms on one thread, 8 ms median threaded) and compete with
# scipy.fft's workers, so every product here is cut to this size.
SINGLE_THREAD_MACS = 4 * 65_536


def _midi_to_hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69.0) / 12.0))


@dataclass(frozen=True)
class SpectralSpec:
    """Every number that decides what a spec-2 model sees. Change one and bump ``version``.

    - ``sample_rate``, ``hop_length``: analysis rate (Hz) and frame hop (samples); 22 050 / 441 = 50 frames/s.
    - ``n_fft``: main STFT size (periodic Hann of the same length): 1024 = 46 ms, madmom's middle resolution.
      Shorter windows localise onsets better (a click peaks in the flux at its own frame, not one early, which a
      2048-point window at this hop does); the chroma has its own, longer window.
    - ``fmin_hz``, ``fmax_hz``, ``bands_per_octave``, ``reference_hz``: the log filterbank's semitone grid
      (madmom's defaults: 30 Hz up, 12 an octave, A4 = 440 Hz); ``fmax_hz`` is clipped to Nyquist.
    - ``log_multiplier``: bands are ``log10(1 + log_multiplier * magnitude)`` of an unnormalised Hann STFT of
      float audio in [-1, 1] (madmom's ``mul=1``).
    - ``flux_lag_frames``: frames between the two spectra the flux compares (madmom's ``diff_frames`` rule, the
      window falling to half its peak, gives 1 for 1024 samples at a 441 hop).
    - ``chroma_decimation``: the chroma STFT runs at ``sample_rate / chroma_decimation`` Hz (9: 2450 Hz);
      ``chroma_n_fft`` is its window there (1024: 418 ms); ``chroma_frame_step``: it is taken every this many
      frames and interpolated between (``chroma_decimation`` must divide ``chroma_frame_step * hop_length``).
    - ``chroma_min_midi``, ``chroma_octaves``: the pitch range folded into classes (MIDI 33 = A1, 4 octaves to
      G#5 = 831 Hz: bass lines and chord voicings; whole octaves so every class gets the same span).
    - ``chroma_floor_db``: a frame whose strongest class is weaker than a sine this far below full scale is not
      scaled up to 1 (−60 dB: quiet passages of a mastered record still normalise, tape hiss does not).
    - ``chroma_class_width_semitones``: standard deviation of the Gaussian that shares a bin among the classes
      around it (0.5, as librosa's ``chroma_stft`` uses for bins narrower than a semitone).
    - ``chroma_antialias_db``: stop-band attenuation of the decimation filter (50 dB: 89 taps; the alias test
      holds an E4 40 dB under a tone that folds onto C5).
    """

    version: str = "2"
    sample_rate: int = 22_050
    hop_length: int = 441
    n_fft: int = 1024
    fmin_hz: float = 30.0
    fmax_hz: float = 11_025.0
    bands_per_octave: int = 12
    reference_hz: float = 440.0
    log_multiplier: float = 1.0
    flux_lag_frames: int = 1
    chroma_decimation: int = 9
    chroma_n_fft: int = 1024
    chroma_frame_step: int = 2
    chroma_min_midi: int = 33
    chroma_octaves: int = 4
    chroma_floor_db: float = -60.0
    chroma_class_width_semitones: float = 0.5
    chroma_antialias_db: float = 50.0

    def __post_init__(self) -> None:
        problems = []
        if self.sample_rate <= 0 or self.hop_length <= 0 or self.n_fft < 16 or self.chroma_n_fft < 16:
            problems.append("sample_rate, hop_length must be positive and the FFT sizes at least 16")
        if not 0 < self.fmin_hz < min(self.fmax_hz, self.sample_rate / 2):
            problems.append("need 0 < fmin_hz < min(fmax_hz, sample_rate / 2)")
        if self.bands_per_octave <= 0 or self.flux_lag_frames <= 0 or self.chroma_octaves <= 0:
            problems.append("bands_per_octave, flux_lag_frames and chroma_octaves must be positive")
        if self.chroma_class_width_semitones <= 0 or self.chroma_antialias_db <= 8.7:
            problems.append("chroma_class_width_semitones must be positive and chroma_antialias_db above 8.7")
        if self.chroma_decimation <= 0 or self.chroma_frame_step <= 0:
            problems.append("chroma_decimation and chroma_frame_step must be positive")
        elif (self.chroma_frame_step * self.hop_length) % self.chroma_decimation:
            problems.append("chroma_decimation must divide chroma_frame_step × hop_length")
        elif _midi_to_hz(self.chroma_max_midi + 0.5) >= 0.45 * self.chroma_sample_rate:
            problems.append("the chroma range must stay below 0.45 × the decimated rate")
        if problems:
            raise ValueError("invalid SpectralSpec: " + "; ".join(problems))

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def frame_duration_s(self) -> float:
        return self.hop_length / self.sample_rate

    @property
    def n_bands(self) -> int:
        return int(_filterbank(self).shape[1])

    @property
    def n_features(self) -> int:
        """Values per frame of ``model_input``: bands, their flux, and the 12 chroma classes."""
        return 2 * self.n_bands + N_CHROMA

    @property
    def band_slice(self) -> slice:
        return slice(0, self.n_bands)

    @property
    def flux_slice(self) -> slice:
        return slice(self.n_bands, 2 * self.n_bands)

    @property
    def chroma_slice(self) -> slice:
        return slice(2 * self.n_bands, 2 * self.n_bands + N_CHROMA)

    @property
    def chroma_sample_rate(self) -> float:
        return self.sample_rate / self.chroma_decimation

    @property
    def chroma_max_midi(self) -> int:
        return self.chroma_min_midi + N_CHROMA * self.chroma_octaves - 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SpectralSpec:
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


SPECTRAL_SPEC = SpectralSpec()


@dataclass(frozen=True)
class FrameFeatures:
    """Spec-2 features of one record, one row per frame (frame ``i`` at ``i / frame_rate_hz`` seconds).

    - ``model_input``: (frames, spec.n_features) float32, ``[log_bands | flux | chroma]``: what the network reads.
    - ``log_bands``: (frames, spec.n_bands) float32, ``log10(1 + magnitude)`` of the log filterbank.
    - ``chroma``: (frames, 12) float32 in [0, 1], C first; each frame divided by its largest class (floored).
    - ``onset_envelope``: (frames,) float32, the flux summed over bands (log10 units, ≥ 0; 0 at frame 0).
    """

    model_input: np.ndarray
    log_bands: np.ndarray
    chroma: np.ndarray
    onset_envelope: np.ndarray
    frame_rate_hz: float

    @property
    def n_frames(self) -> int:
        return int(self.log_bands.shape[0])


def frame_count(n_samples: int, spec: SpectralSpec = SPECTRAL_SPEC) -> int:
    """Frames for a record of ``n_samples`` samples (centred frames: ``1 + n_samples // hop_length``)."""
    return 1 + int(n_samples) // spec.hop_length


def frame_times_s(n_frames: int, spec: SpectralSpec = SPECTRAL_SPEC) -> np.ndarray:
    """Centre time of each frame in seconds: (n_frames,), float64."""
    return np.arange(int(n_frames), dtype=np.float64) * (spec.hop_length / spec.sample_rate)


def band_frequencies_hz(spec: SpectralSpec = SPECTRAL_SPEC) -> np.ndarray:
    """Centre frequency (Hz) of each filterbank band: the FFT bin where its triangle peaks, (n_bands,)."""
    weights = _filterbank(spec)
    bin_hz = spec.sample_rate / spec.n_fft
    centres: np.ndarray = (np.argmax(weights, axis=0) * bin_hz).astype(np.float64)
    return centres


def filterbank_matrix(spec: SpectralSpec = SPECTRAL_SPEC) -> np.ndarray:
    """The log filterbank as a dense (n_fft // 2 + 1, n_bands) float32 matrix (a copy; each column sums to 1).

    ``magnitude @ filterbank_matrix(spec)`` turns an STFT magnitude (frames, bins) into band magnitudes.
    """
    return _filterbank(spec).copy()


def compute_features(
    mono: np.ndarray,
    spec: SpectralSpec = SPECTRAL_SPEC,
    *,
    workers: int = -1,
) -> FrameFeatures:
    """Spec-2 features of a mono signal at ``spec.sample_rate``; ``workers``: scipy.fft threads (-1: all cores).

    Raises ``ValueError`` for anything but a non-empty 1-D array of finite samples.
    """
    signal = _as_signal(mono)
    n_frames = frame_count(signal.size, spec)
    bands = _band_magnitudes(signal, n_frames, spec, workers)
    # log10(1 + m · mul) via log1p, in place: the only per-band pass after the filterbank.
    if spec.log_multiplier != 1.0:
        bands *= np.float32(spec.log_multiplier)
    np.log1p(bands, out=bands)
    bands *= np.float32(1.0 / math.log(10.0))
    chroma = _chroma(signal, n_frames, spec, workers)
    if not (np.isfinite(bands).all() and np.isfinite(chroma).all()):
        raise ValueError("the signal holds non-finite samples (NaN or infinity)")

    n_bands = bands.shape[1]
    model_input = np.empty((n_frames, spec.n_features), dtype=np.float32)
    model_input[:, :n_bands] = bands
    flux = model_input[:, n_bands : 2 * n_bands]
    lag = spec.flux_lag_frames
    # The first ``lag`` frames have nothing to compare with: 0, not an onset against the padding's silence
    # (that would make frame 0 the loudest "onset" of nearly every record).
    flux[:lag] = 0.0
    np.subtract(bands[lag:], bands[:-lag], out=flux[lag:])
    np.maximum(flux, 0.0, out=flux)
    model_input[:, 2 * n_bands :] = chroma
    onset_envelope = flux.sum(axis=1, dtype=np.float32)
    return FrameFeatures(
        model_input=model_input,
        log_bands=bands,
        chroma=chroma,
        onset_envelope=onset_envelope,
        frame_rate_hz=spec.frame_rate_hz,
    )


def _as_signal(mono: np.ndarray) -> np.ndarray:
    """The samples as contiguous float32, or a ``ValueError`` saying what is wrong with them."""
    signal = np.asarray(mono)
    if signal.ndim != 1:
        raise ValueError(f"expected a 1-D mono signal, got shape {signal.shape}")
    if signal.size == 0:
        raise ValueError("the signal is empty")
    if not np.issubdtype(signal.dtype, np.floating):
        # Integer PCM would silently be 32768 × too loud for the fixed log compression.
        raise ValueError(f"expected floating-point samples in [-1, 1], got dtype {signal.dtype}")
    return np.ascontiguousarray(signal, dtype=np.float32)


# --- the main STFT and its filterbank ------------------------------------------------------------------------


def _band_magnitudes(signal: np.ndarray, n_frames: int, spec: SpectralSpec, workers: int) -> np.ndarray:
    """Filterbank magnitudes (frames, n_bands), float32, computed block by block."""
    groups = _filterbank_groups(spec)
    first_bin = groups[0][0].start
    last_bin = groups[-1][0].stop
    bands = np.zeros((n_frames, spec.n_bands), dtype=np.float32)
    for start, spectrum in _stft_blocks(signal, n_frames, spec.n_fft, spec.hop_length, workers):
        magnitude = np.abs(spectrum[:, first_bin:last_bin])
        out = bands[start : start + spectrum.shape[0]]
        # The filterbank is 97 % zeros: multiply each run of bands only by the bins it covers.
        for bin_range, band_range, weights in groups:
            local = slice(bin_range.start - first_bin, bin_range.stop - first_bin)
            out[:, band_range] += _matmul(magnitude[:, local], weights)
    return bands


def _stft_blocks(
    signal: np.ndarray, n_frames: int, n_fft: int, hop_length: int, workers: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_frame, rfft block)`` of centred, periodic-Hann-windowed frames, :data:`BLOCK_FRAMES` at a time.

    Only the block at each edge is copied into a zero-padded piece; the rest are views of ``signal``.
    """
    window = _hann(n_fft)
    half = n_fft // 2
    block_frames = BLOCK_FRAMES
    for start in range(0, n_frames, block_frames):
        stop = min(n_frames, start + block_frames)
        first = start * hop_length - half
        last = (stop - 1) * hop_length - half + n_fft
        piece = _padded_slice(signal, first, last)
        frames = sliding_window_view(piece, n_fft)[::hop_length]
        yield start, scipy.fft.rfft(frames * window, axis=1, workers=workers)


def _padded_slice(signal: np.ndarray, first: int, last: int) -> np.ndarray:
    """``signal[first:last]`` with zeros wherever the range leaves the signal (a view when it does not)."""
    if first >= 0 and last <= signal.size:
        return signal[first:last]
    piece = np.zeros(last - first, dtype=np.float32)
    lo, hi = max(first, 0), min(last, signal.size)
    if hi > lo:
        piece[lo - first : hi - first] = signal[lo:hi]
    return piece


def _matmul(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` in pieces of at most :data:`SINGLE_THREAD_MACS` multiply-adds (see there), float32."""
    rows, inner = left.shape
    columns = right.shape[1]
    out = np.empty((rows, columns), dtype=np.float32)
    if rows >= columns:
        step = max(1, SINGLE_THREAD_MACS // (inner * columns))
        for start in range(0, rows, step):
            np.matmul(left[start : start + step], right, out=out[start : start + step])
    else:
        step = max(1, SINGLE_THREAD_MACS // (inner * rows))
        for start in range(0, columns, step):
            np.matmul(left, right[:, start : start + step], out=out[:, start : start + step])
    return out


@lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window (librosa's and scipy's ``get_window('hann', n, fftbins=True)``)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


@lru_cache(maxsize=8)
def _filterbank(spec: SpectralSpec) -> np.ndarray:
    """madmom-style logarithmic triangular filterbank: (n_fft // 2 + 1, n_bands), float32, columns sum to 1.

    Band edges are the FFT bins nearest to the semitones from ``fmin_hz`` to ``fmax_hz``, with duplicates
    removed (so at the bottom, where a bin is wider than a semitone, each bin becomes one band); band ``k``
    rises from edge ``k`` (weight 0) to a peak at edge ``k + 1`` and falls to just above 0 before edge ``k + 2``,
    so where edges are one bin apart a band is its centre bin alone. Edges are distinct, so every band has one.
    """
    n_bins = spec.n_fft // 2 + 1
    bin_hz = np.arange(n_bins) * (spec.sample_rate / spec.n_fft)
    fmax_hz = min(spec.fmax_hz, spec.sample_rate / 2)
    steps = spec.bands_per_octave
    left = math.floor(math.log2(spec.fmin_hz / spec.reference_hz) * steps)
    right = math.ceil(math.log2(fmax_hz / spec.reference_hz) * steps)
    semitones_hz = spec.reference_hz * 2.0 ** (np.arange(left, right + 1) / steps)
    semitones_hz = semitones_hz[(semitones_hz >= spec.fmin_hz) & (semitones_hz <= fmax_hz)]
    nearest = np.clip(np.searchsorted(bin_hz, semitones_hz), 1, n_bins - 1)
    nearest -= (semitones_hz - bin_hz[nearest - 1]) < (bin_hz[nearest] - semitones_hz)
    edges = np.unique(nearest)
    if edges.size < 3:
        raise ValueError("the filterbank range holds fewer than three distinct FFT bins")
    weights = np.zeros((n_bins, edges.size - 2), dtype=np.float64)
    for band, (start, centre, stop) in enumerate(zip(edges[:-2], edges[1:-1], edges[2:], strict=True)):
        rise = np.linspace(0.0, 1.0, centre - start, endpoint=False)
        fall = np.linspace(1.0, 0.0, stop - centre, endpoint=False)
        weights[start:stop, band] = np.concatenate([rise, fall])
    weights /= weights.sum(axis=0, keepdims=True)
    return weights.astype(np.float32)


@lru_cache(maxsize=8)
def _filterbank_groups(spec: SpectralSpec, bands_per_group: int = 8) -> tuple[tuple[slice, slice, np.ndarray], ...]:
    """The filterbank cut into runs of ``bands_per_group`` bands, each with the bin range it covers.

    Dense multiplication by the whole (513 × 73) matrix is 9 × the arithmetic of these pieces.
    """
    weights = _filterbank(spec)
    groups = []
    for first_band in range(0, weights.shape[1], bands_per_group):
        band_range = slice(first_band, min(first_band + bands_per_group, weights.shape[1]))
        used = np.flatnonzero(weights[:, band_range].any(axis=1))
        bin_range = slice(int(used[0]), int(used[-1]) + 1)
        groups.append((bin_range, band_range, np.ascontiguousarray(weights[bin_range, band_range])))
    return tuple(groups)


# --- chroma -------------------------------------------------------------------------------------------------


def _chroma(signal: np.ndarray, n_frames: int, spec: SpectralSpec, workers: int) -> np.ndarray:
    """Pitch-class profile (frames, 12), float32 in [0, 1], from an STFT of the decimated signal.

    The STFT is taken every ``chroma_frame_step`` frames and its class energies interpolated linearly between
    (its window is ~20 frames long, so nothing is lost and the FFT work halves).
    """
    low = _fir_decimate(signal, _decimation_filter(spec), spec.chroma_decimation)
    step = spec.chroma_frame_step
    hop = step * spec.hop_length // spec.chroma_decimation
    n_coarse = (n_frames - 1 + step - 1) // step + 1
    weights, first_bin, last_bin = _chroma_weights(spec)
    coarse = np.empty((n_coarse, N_CHROMA), dtype=np.float32)
    for start, spectrum in _stft_blocks(low, n_coarse, spec.chroma_n_fft, hop, workers):
        magnitude = np.abs(spectrum[:, first_bin:last_bin])
        coarse[start : start + spectrum.shape[0]] = _matmul(np.square(magnitude, out=magnitude), weights)
    energy = _interpolate_frames(coarse, step, n_frames)
    # A full-scale sine's peak bin is sum(window) / 2 = n_fft / 4; frames quieter than the floor scale down.
    floor = (spec.chroma_n_fft / 4) ** 2 * 10.0 ** (spec.chroma_floor_db / 10.0)
    peak = np.maximum(energy.max(axis=1, keepdims=True), np.float32(floor))
    np.divide(energy, peak, out=energy)
    return energy


def _interpolate_frames(coarse: np.ndarray, step: int, n_frames: int) -> np.ndarray:
    """Rows every ``step`` frames → every frame, by linear interpolation: (n_frames, columns), float32."""
    if step == 1:
        return np.ascontiguousarray(coarse[:n_frames])
    fine = np.empty((n_frames, coarse.shape[1]), dtype=np.float32)
    for phase in range(step):
        rows = fine[phase::step]
        share = np.float32(phase / step)
        np.multiply(coarse[: rows.shape[0]], 1 - share, out=rows)
        if phase:
            rows += share * coarse[1 : rows.shape[0] + 1]
    return fine


@lru_cache(maxsize=8)
def _chroma_weights(spec: SpectralSpec) -> tuple[np.ndarray, int, int]:
    """(bins, 12) weights from the chroma STFT's power to pitch classes, and the bin range they cover.

    Each bin's power is shared among classes by a Gaussian over its distance to each class in semitones (the
    classes a bin sits between share it; weights per bin sum to 1), tapered to 0 over the half semitone at each
    end of the range, and divided by the decimation filter's power gain there, so the range is flat.
    """
    n_bins = spec.chroma_n_fft // 2 + 1
    bin_hz = np.arange(n_bins) * (spec.chroma_sample_rate / spec.chroma_n_fft)
    low_hz = _midi_to_hz(spec.chroma_min_midi - 0.5)
    high_hz = _midi_to_hz(spec.chroma_max_midi + 0.5)
    first_bin = int(np.searchsorted(bin_hz, low_hz))
    last_bin = int(np.searchsorted(bin_hz, high_hz, side="right"))
    freqs_hz = bin_hz[first_bin:last_bin]
    midi = 69.0 + 12.0 * np.log2(freqs_hz / 440.0)
    distance = (midi[:, None] - np.arange(N_CHROMA)[None, :] + 6.0) % 12.0 - 6.0
    weights = np.exp(-0.5 * (distance / spec.chroma_class_width_semitones) ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    edge = np.clip(np.minimum(midi - (spec.chroma_min_midi - 0.5), (spec.chroma_max_midi + 0.5) - midi), 0, 1)
    gain = np.abs(_frequency_response(_decimation_filter(spec), freqs_hz, spec.sample_rate)) ** 2
    weights *= (np.sin(0.5 * np.pi * edge) ** 2 / gain)[:, None]
    return weights.astype(np.float32), first_bin, last_bin


# --- decimation ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _decimation_filter(spec: SpectralSpec) -> np.ndarray:
    """The zero-phase FIR low-pass applied before keeping every ``chroma_decimation``-th sample.

    Only the chroma range (up to ``f_top``, 855 Hz) is read after decimating to rate ``r`` (2450 Hz), so the
    filter must pass ``f_top`` and stop from ``r - f_top`` (1595 Hz) up, whatever would fold onto the range:
    a Kaiser-windowed sinc for ``chroma_antialias_db`` there (89 taps at the defaults).
    """
    f_top = _midi_to_hz(spec.chroma_max_midi + 0.5)
    if spec.chroma_decimation == 1:
        return np.ones(1, dtype=np.float32)
    return _kaiser_lowpass(spec.sample_rate, f_top, spec.chroma_sample_rate - f_top, spec.chroma_antialias_db)


def _kaiser_lowpass(rate_hz: float, pass_hz: float, stop_hz: float, attenuation_db: float) -> np.ndarray:
    """Odd-length Kaiser-windowed sinc low-pass (Kaiser's formulas for length and β), unit gain at DC."""
    width = (stop_hz - pass_hz) / rate_hz
    n_taps = math.ceil((attenuation_db - 7.95) / (2.285 * 2.0 * math.pi * width)) + 1
    n_taps += 1 - n_taps % 2
    beta = 0.1102 * (attenuation_db - 8.7)
    cutoff = (pass_hz + stop_hz) / 2 / rate_hz
    offsets = np.arange(n_taps) - (n_taps - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * offsets) * np.kaiser(n_taps, beta)
    normalised: np.ndarray = (taps / taps.sum()).astype(np.float32)
    return normalised


def _frequency_response(taps: np.ndarray, freqs_hz: np.ndarray, rate_hz: float) -> np.ndarray:
    """Complex response of a symmetric FIR (taken as zero-phase) at ``freqs_hz``."""
    offsets = np.arange(taps.size) - (taps.size - 1) / 2
    return np.exp(-2j * np.pi * np.outer(freqs_hz / rate_hz, offsets)) @ taps.astype(np.float64)


def _fir_decimate(signal: np.ndarray, taps: np.ndarray, factor: int) -> np.ndarray:
    """``y[m] = sum_k taps[k] * signal[factor * m + k - centre]`` (zeros outside), ``ceil(n / factor)`` values.

    Output ``m`` sits at input sample ``factor * m`` (the filter is symmetric: no delay). Polyphase: the signal,
    seen as rows of ``factor`` samples, is multiplied by the taps cut into rows (small BLAS products that read
    each input sample once), then the rows' partial sums are added with their shifts.
    """
    if factor == 1:
        return signal
    centre = (taps.size - 1) // 2
    lead = -centre % factor  # zeros before the taps so the centre lands on a row boundary
    padded_taps = np.zeros(-(-(lead + taps.size) // factor) * factor, dtype=np.float32)
    padded_taps[lead : lead + taps.size] = taps
    phases = padded_taps.reshape(-1, factor)  # (rows, factor)
    n_rows = phases.shape[0]
    shift = (centre + lead) // factor
    n_out = -(-signal.size // factor)
    out = np.empty(n_out, dtype=np.float32)
    block = max(1, DECIMATION_BLOCK_SAMPLES // factor)
    for start in range(0, n_out, block):
        stop = min(n_out, start + block)
        first = (start - shift) * factor
        rows = _padded_slice(signal, first, first + (stop - start + n_rows - 1) * factor).reshape(-1, factor)
        partial = _matmul(phases, rows.T)  # (n_rows, rows in block)
        result = out[start:stop]
        np.copyto(result, partial[0, : stop - start])
        for row in range(1, n_rows):
            result += partial[row, row : row + stop - start]
    return out
