"""Decoding a record safely into the mono analysis copy the features use, with the original kept on disk.

The header is checked before any sample is decoded (container allow-list, sample rate, channels, declared length);
decoding then streams in blocks — downmix, then soxr's streaming resampler — so peak memory is the mono analysis
signal plus one block, whatever the original's rate and channel count. The original is never held whole in memory:
:meth:`DecodedAudio.read` decodes only the samples a slice needs, from the source file.

libsndfile is only ever given a path inside a private temporary folder (the bytes written there, or a symlink to the
caller's file): opened from memory or a descriptor it probes a file named ``._`` in the working directory (an
AppleDouble resource fork), and next to a path it probes ``._<name>``; either makes an MP3 without an ID3 tag
unreadable.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

# Containers this project promises to read (libsndfile's names; AIFF covers AIFC, MP3 covers MPEG layers I–III).
# WAVEX, RF64 and W64 are WAV with a wider header: what DAWs write for many channels or files over 4 GB.
ALLOWED_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "AIFF", "FLAC", "OGG", "MP3"})
ALLOWED_OGG_SUBTYPES = frozenset({"VORBIS", "OPUS"})
EXPECTED = "WAV, AIFF, FLAC, OGG or MP3 expected"

# 384 kHz is the highest rate of current converters (DXD masters, 384-kHz DACs); nothing a sampler plays is above
# it, and 8 kHz telephone audio (GSM, G.721) is the lowest that producers meet — 1 kHz leaves room below it.
MAX_SAMPLE_RATE_HZ = 384_000
MIN_SAMPLE_RATE_HZ = 1_000
# 32 channels covers 22.2 (24) and third-order ambisonics (16); multitrack stems come as separate files.
MAX_CHANNELS = 32
# The service's longest record (600 s, its max_duration_s default) as a 96-kHz stereo master: 115.2 M samples.
DEFAULT_MAX_SAMPLES = 600 * 96_000 * 2
# Samples (frames × channels) decoded per block: 1 MiB of float32, whatever the channel count.
BLOCK_SAMPLES = 1 << 18
# Float files may hold any finite value (the probe used 1e36, whose squares overflow in librosa). Their peak
# is found in a first pass, and when it exceeds full scale the analysis copy is scaled to a peak of 1.0 on the way
# in (normalised, not clipped: the shape the features see is kept). The original, and so the slices, are untouched.
FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
# The analysis buffer is allocated from the declared length up to this (128 MiB: 12.7 min at 44.1 kHz, so a record
# within the service's 600 s never regrows), and grows by half beyond: a header may lie about its length.
PREALLOCATE_MAX_SAMPLES = 1 << 25
# libsndfile's SF_COUNT_MAX: what it reports as the length of a stream that does not declare one (FLAC may not).
UNKNOWN_FRAMES = 2**63 - 1


class AudioDecodeError(ValueError):
    """The input is not audio this project reads: not audio, a container outside the allow-list, or corrupt."""


class AudioLimitError(ValueError):
    """The audio is readable but beyond what is analysed: its sample rate, channels or number of samples."""


class AudioTooLong(AudioLimitError):
    """The record is longer than the ``max_duration_s`` it was decoded with."""


@dataclass(frozen=True)
class AudioHeader:
    """What a file declares before any sample is decoded. ``frames`` is None when the length is not declared."""

    sample_rate_hz: int
    channels: int
    frames: int | None
    format: str
    subtype: str

    @property
    def codec(self) -> str:
        return f"{self.format}/{self.subtype}"


AudioSource = str | Path | bytes

# Leading bytes of the containers in the allow-list; anything else never reaches libsndfile's other parsers.
_W64_RIFF_GUID = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"
# Leading bytes of containers libsndfile reads but this project refuses, to say what a refused file is.
_REFUSED_MAGIC = {
    b".snd": "AU",
    b"dns.": "AU",
    b"caff": "CAF",
    b"Creative Voice File": "VOC",
    b"MATLAB 5.0": "MAT5",
    b"Extended Instrument:": "XI",
    b"NIST_1A": "NIST",
    b"2BIT": "AVR",
    b" paf": "PAF",
    b"fap ": "PAF",
    b"PVF1": "PVF",
    b"ALaw": "WVE",
}


def _allowed_magic(head: bytes) -> bool:
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return True
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return True
    if head.startswith((b"fLaC", b"OggS", b"ID3", _W64_RIFF_GUID)):
        return True
    # An MPEG audio frame: 11 sync bits, then a version and layer that are not "reserved".
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0


def _refused_name(head: bytes) -> str | None:
    if head[:4] == b"FORM" and head[8:12].isalnum():  # IFF: 8SVX, MAUD, …
        return head[8:12].decode("ascii")
    return next((name for magic, name in _REFUSED_MAGIC.items() if head.startswith(magic)), None)


def _not_readable(detail: str) -> AudioDecodeError:
    return AudioDecodeError(f"not a readable audio file ({EXPECTED}): {detail}")


class _PrivateCopy:
    """The source as a path in a private temporary folder: the bytes written there, or a symlink to the file.

    Nothing else lives in that folder, so libsndfile's resource-fork probes (``._<name>``) find nothing.
    """

    def __init__(self, source: AudioSource) -> None:
        if isinstance(source, bytes):
            if not source:
                raise AudioDecodeError("the file is empty")
        else:
            path = Path(source)
            try:
                stat = path.stat()
            except FileNotFoundError as error:
                raise AudioDecodeError(f"no such file: {source}") from error
            except OSError as error:
                raise AudioDecodeError(f"cannot read {source}: {error.strerror}") from error
            if not path.is_file():
                raise AudioDecodeError(f"not a file: {source}")
            if stat.st_size == 0:
                raise AudioDecodeError("the file is empty")
        self.folder = tempfile.mkdtemp(prefix="samplechop-decode-")
        self.path = os.path.join(self.folder, "record")
        try:
            if isinstance(source, bytes):
                with open(self.path, "wb") as file:
                    file.write(source)
            else:
                try:
                    os.symlink(os.path.abspath(source), self.path)
                except OSError:  # a temporary folder on a file system without symlinks: copy instead
                    shutil.copyfile(source, self.path)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def head(self, size: int = 64) -> bytes:
        try:
            with open(self.path, "rb") as file:
                return file.read(size)
        except OSError as error:
            raise AudioDecodeError(f"cannot read the file: {error.strerror}") from error

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _open(path: str) -> sf.SoundFile:
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        detail = getattr(error, "error_string", "") or "unrecognised or corrupt data"
        if "does not exist" in detail:  # libsndfile's words for data its MP3 reader rejects
            detail = "unrecognised or corrupt data"
        raise _not_readable(detail) from error


def _header(handle: sf.SoundFile) -> AudioHeader:
    frames = int(handle.frames)
    return AudioHeader(
        sample_rate_hz=int(handle.samplerate),
        channels=int(handle.channels),
        frames=None if frames >= UNKNOWN_FRAMES or frames < 0 else frames,
        format=str(handle.format),
        subtype=str(handle.subtype),
    )


def _check_container(header: AudioHeader) -> None:
    if header.format not in ALLOWED_FORMATS:
        raise AudioDecodeError(f"{header.format} files are not supported ({EXPECTED})")
    if header.format == "OGG" and header.subtype not in ALLOWED_OGG_SUBTYPES:
        raise AudioDecodeError(f"OGG/{header.subtype} is not supported (OGG must hold Vorbis or Opus)")


@dataclass(frozen=True)
class AnalysisLimits:
    """How many frames of the original one record may have, and which limit says so."""

    max_frames: int
    max_samples: int
    max_duration_s: float | None
    analysis_rate: int

    @classmethod
    def of(
        cls, header: AudioHeader, analysis_rate: int, max_samples: int, max_duration_s: float | None
    ) -> AnalysisLimits:
        rate = header.sample_rate_hz
        # Decoding costs frames × channels samples; the analysis copy costs frames × analysis_rate / rate samples
        # (an 8-kHz record is upsampled 5.5×). Both count against max_samples.
        by_work = min(max_samples // header.channels, max_samples * rate // analysis_rate)
        by_duration = UNKNOWN_FRAMES if max_duration_s is None else int(max_duration_s * rate)
        return cls(min(by_work, by_duration), max_samples, max_duration_s, analysis_rate)

    def error(self, header: AudioHeader, frames: int, *, declared: bool) -> AudioLimitError:
        """The error for a record of ``frames`` frames (at least that many when not ``declared``)."""
        rate, channels = header.sample_rate_hz, header.channels
        duration_s = frames / rate
        length = f"{duration_s:.1f} s long" if declared else f"at least {duration_s:.1f} s long"
        if self.max_duration_s is not None and frames > self.max_duration_s * rate:
            return AudioTooLong(f"the record is {length}; the limit is {self.max_duration_s:g} s")
        work = max(frames * channels, frames * self.analysis_rate // rate)
        return AudioLimitError(
            f"the record is {length} at {rate} Hz with {channels} channel(s): {'' if declared else 'at least '}"
            f"{work / 1e6:.1f} M samples to analyse; the limit is {self.max_samples / 1e6:.1f} M"
        )


def check_header(
    header: AudioHeader, analysis_rate: int, *, max_samples: int, max_duration_s: float | None
) -> AnalysisLimits:
    """Refuse, from the header alone, a record that is not in the allow-list or beyond the analysis limits."""
    _check_container(header)
    rate, channels = header.sample_rate_hz, header.channels
    if channels < 1:
        raise AudioDecodeError(f"the file declares {channels} channels")
    if rate < 1:
        raise AudioDecodeError(f"the file declares a sample rate of {rate} Hz")
    if rate > MAX_SAMPLE_RATE_HZ:
        raise AudioLimitError(f"the sample rate is {rate} Hz; the most accepted is {MAX_SAMPLE_RATE_HZ} Hz")
    if rate < MIN_SAMPLE_RATE_HZ:
        raise AudioLimitError(f"the sample rate is {rate} Hz; the least accepted is {MIN_SAMPLE_RATE_HZ} Hz")
    if channels > MAX_CHANNELS:
        raise AudioLimitError(f"the record has {channels} channels; at most {MAX_CHANNELS} are accepted")
    limits = AnalysisLimits.of(header, analysis_rate, max_samples, max_duration_s)
    if header.frames is not None and header.frames > limits.max_frames:
        raise limits.error(header, header.frames, declared=True)
    return limits


def _read_block(handle: sf.SoundFile, out: np.ndarray) -> int:
    """Decode up to ``len(out)`` frames into ``out`` (C-contiguous float32 or float64, frames × channels).

    This calls libsndfile directly: soundfile's ``read`` seeks to ``tell() + n`` after every call, and mpg123's
    seeks are not sample-exact, so reading an MP3 in blocks through it garbles the audio (measured: errors of 0.36
    full scale against a one-call read).
    """
    if out.dtype == np.float64:
        pointer = sf._ffi.cast("double *", out.ctypes.data)
        frames = int(sf._snd.sf_readf_double(handle._file, pointer, out.shape[0]))
    else:
        pointer = sf._ffi.cast("float *", out.ctypes.data)
        frames = int(sf._snd.sf_readf_float(handle._file, pointer, out.shape[0]))
    code = int(sf._snd.sf_error(handle._file))
    if code != 0 and frames <= 0:
        message = sf._ffi.string(sf._snd.sf_error_number(code)).decode("utf-8", "replace")
        raise _not_readable(f"corrupt audio data ({message})")
    return max(frames, 0)


def _block_frames(channels: int) -> int:
    return max(1024, BLOCK_SAMPLES // channels)


class _GrowingSignal:
    """A float32 signal appended to in chunks, in one buffer that grows geometrically up to a known bound."""

    def __init__(self, expected: int, bound: int) -> None:
        self.bound = bound
        self.buffer = np.empty(max(1024, min(expected, bound, PREALLOCATE_MAX_SAMPLES)), dtype=np.float32)
        self.size = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self.size + chunk.shape[0]
        if end > self.buffer.shape[0]:
            grown = np.empty(min(max(end, self.buffer.shape[0] * 3 // 2), max(end, self.bound)), dtype=np.float32)
            grown[: self.size] = self.buffer[: self.size]
            self.buffer = grown
        self.buffer[self.size : end] = chunk
        self.size = end

    def result(self) -> np.ndarray:
        if self.size < self.buffer.shape[0] * 0.9:  # a view would keep a mostly unused buffer alive
            return self.buffer[: self.size].copy()
        return self.buffer[: self.size]


def _block_dtype(header: AudioHeader) -> type[np.floating]:
    """float64 for 64-bit float files, whose finite samples may be beyond float32's range; float32 otherwise."""
    return np.float64 if header.subtype == "DOUBLE" else np.float32


def _float_peak(handle: sf.SoundFile, header: AudioHeader, limits: AnalysisLimits) -> float:
    """The largest magnitude in a float file (a first pass, one block at a time), then back to its start."""
    block = np.empty((_block_frames(header.channels), header.channels), dtype=_block_dtype(header))
    peak, frames = 0.0, 0
    while (count := _read_block(handle, block)) > 0:
        frames += count
        if frames > limits.max_frames:
            raise limits.error(header, frames, declared=False)
        block_peak = float(np.max(np.abs(block[:count])))  # NaN when any sample is NaN
        if not np.isfinite(block_peak):
            raise AudioDecodeError("the audio holds non-finite samples (NaN or infinity)")
        peak = max(peak, block_peak)
    handle.seek(0)
    return peak


def _stream_mono(
    handle: sf.SoundFile, header: AudioHeader, analysis_rate: int, limits: AnalysisLimits
) -> tuple[np.ndarray, int]:
    """Decode the whole file block by block into the mono analysis copy; returns (mono, frames decoded)."""
    rate, channels = header.sample_rate_hz, header.channels
    # Integer and lossy decoders stay within about ±1; only float files can hold anything (see FLOAT_SUBTYPES).
    peak = _float_peak(handle, header, limits) if header.subtype in FLOAT_SUBTYPES else 1.0
    divisor = peak if peak > 1.0 else None  # dividing by the peak: its inverse may underflow float32
    weights = np.full(channels, 1.0 / channels, dtype=np.float32)
    resampler = (
        soxr.ResampleStream(rate, analysis_rate, 1, dtype="float32", quality="HQ") if rate != analysis_rate else None
    )
    max_analysis = limits.max_frames * analysis_rate // rate + 1024
    expected = header.frames if header.frames is not None else 60 * rate
    signal = _GrowingSignal(expected * analysis_rate // rate + 1024, max_analysis)
    block = np.empty((_block_frames(channels), channels), dtype=_block_dtype(header))
    frames = 0
    while (count := _read_block(handle, block)) > 0:
        frames += count
        if frames > limits.max_frames:  # a stream longer than declared (or declaring nothing) stops here
            raise limits.error(header, frames, declared=False)
        samples = block[:count]
        if divisor is not None:
            np.divide(samples, samples.dtype.type(divisor), out=samples)
        if samples.dtype != np.float32:
            samples = samples.astype(np.float32)
        # A matrix-vector product averages channels ~40x faster than a strided mean over axis 1.
        mono = samples[:, 0].copy() if channels == 1 else samples @ weights
        signal.append(resampler.resample_chunk(mono) if resampler is not None else mono)
    if frames == 0:
        raise AudioDecodeError("the audio holds no samples")
    if resampler is not None:
        signal.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return signal.result(), frames


class _OriginalReader:
    """Reads frames [start, stop) of the original from the private copy, at its own rate and channels.

    Seeks where libsndfile seeks sample-exactly (PCM, FLAC and Ogg with a declared length). MP3 (mpg123's seeks
    are not exact), codecs libsndfile cannot seek (GSM 6.10, G.72x, NMS ADPCM) and streams of unknown length are
    read forward instead, reopening only when asked for an earlier position: slices are asked for in time order.
    """

    def __init__(self, copy: _PrivateCopy, header: AudioHeader, frames: int, exact_seek: bool) -> None:
        self._copy = copy
        self._channels = header.channels
        self._frames = frames
        self._exact_seek = exact_seek
        self._handle: sf.SoundFile | None = None
        self._position = 0
        self._lock = threading.Lock()

    def _reopen(self) -> sf.SoundFile:
        if self._handle is not None:
            self._handle.close()
        self._handle = _open(self._copy.path)
        self._position = 0
        return self._handle

    def _fill(self, handle: sf.SoundFile, out: np.ndarray) -> int:
        done = 0
        while done < out.shape[0]:
            count = _read_block(handle, out[done:])
            if count == 0:
                break
            done += count
        self._position += done
        return done

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, start), min(stop, self._frames)
        out = np.zeros((max(0, stop - start), self._channels), dtype=np.float32)
        if out.shape[0] == 0:
            return out
        with self._lock:
            handle = self._handle if self._handle is not None and not self._handle.closed else self._reopen()
            if self._exact_seek:
                self._position = handle.seek(start)
            elif start < self._position:
                handle = self._reopen()
            if self._position < start:  # read forward to start, a block at a time
                scratch = np.empty(
                    (min(_block_frames(self._channels), start - self._position), self._channels), np.float32
                )
                while self._position < start:
                    step = scratch[: min(scratch.shape[0], start - self._position)]
                    if self._fill(handle, step) < step.shape[0]:
                        return out  # the stream ended early: what is missing stays silent
            self._fill(handle, out)  # a short read leaves the tail silent, keeping the slice length promised
        return out

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def _release(reader: _OriginalReader, copy: _PrivateCopy) -> None:
    reader.close()
    copy.remove()


class DecodedAudio:
    """A decoded record: the mono analysis copy in memory, the original readable in segments.

    ``mono`` is float32 at ``analysis_rate`` Hz (peak ≤ 1.0 when the source exceeded full scale); ``frames`` is the
    original's length in samples per channel at ``original_rate`` Hz. :meth:`read` returns float32 frames of the
    original, shape (n, channels). The private copy of the source is removed by :meth:`close` (or a ``with``
    block), and at the latest when the object is garbage collected.
    """

    def __init__(
        self,
        *,
        mono: np.ndarray,
        analysis_rate: int,
        header: AudioHeader,
        frames: int,
        reader: _OriginalReader,
        copy: _PrivateCopy,
    ) -> None:
        self.mono = mono
        self.analysis_rate = analysis_rate
        self.original_rate = header.sample_rate_hz
        self.channels = header.channels
        self.frames = frames
        self.codec = header.codec
        self._reader = reader
        self._finalizer = weakref.finalize(self, _release, reader, copy)

    @property
    def duration_s(self) -> float:
        return self.frames / float(self.original_rate)

    def read(self, start_sample: int, stop_sample: int) -> np.ndarray:
        """Frames [start_sample, stop_sample) of the original, float32 (n, channels); clamped to the record."""
        if not self._finalizer.alive:
            raise ValueError("the decoded audio is closed")
        return self._reader.read(start_sample, stop_sample)

    @property
    def original(self) -> np.ndarray:
        """The whole original as float32 (frames, channels). Costs a full copy in memory: prefer :meth:`read`."""
        return self.read(0, self.frames)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> DecodedAudio:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _unrecognised(head: bytes) -> AudioDecodeError:
    name = _refused_name(head)
    if name is not None:
        return AudioDecodeError(f"{name} files are not supported ({EXPECTED})")
    return _not_readable("unrecognised data")


def decode_audio(
    source: AudioSource,
    analysis_rate: int,
    *,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    max_duration_s: float | None = None,
) -> DecodedAudio:
    """Decode a path or the file's bytes: mono analysis copy at ``analysis_rate`` Hz, original readable by segment.

    Raises AudioDecodeError (not audio, a container outside the allow-list, corrupt, empty, NaN/infinite samples),
    AudioLimitError (rate outside 1–384 kHz, over 32 channels, or more than ``max_samples`` samples decoded or
    analysed — declared or found while streaming) and its subclass AudioTooLong (over ``max_duration_s``).
    """
    copy = _PrivateCopy(source)
    handle: sf.SoundFile | None = None
    try:
        head = copy.head()
        if not _allowed_magic(head):
            raise _unrecognised(head)
        handle = _open(copy.path)
        header = _header(handle)
        limits = check_header(header, analysis_rate, max_samples=max_samples, max_duration_s=max_duration_s)
        mono, frames = _stream_mono(handle, header, analysis_rate, limits)
        exact_seek = handle.seekable() and header.format != "MP3" and header.frames is not None
        reader = _OriginalReader(copy, header, frames, exact_seek)
    except BaseException:
        copy.remove()
        raise
    finally:
        if handle is not None:
            handle.close()
    return DecodedAudio(mono=mono, analysis_rate=analysis_rate, header=header, frames=frames, reader=reader, copy=copy)
