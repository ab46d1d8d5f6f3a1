"""The decoder against a hostile corpus (issue 12), every file generated here: non-seekable codecs, huge float
samples, a FLAC of unknown length, an AppleDouble ``._`` file, absurd rates and channel counts, refused containers.

Every test runs under a memory bound (tracemalloc, numpy's arrays included) and a time bound.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import soundfile as sf
import soxr

from samplechop.service.cli import main
from samplechop.shared_features.audio import (
    UNKNOWN_FRAMES,
    AudioDecodeError,
    AudioLimitError,
    AudioTooLong,
    DecodedAudio,
    decode_audio,
)
from tests.synth import beat_record

# The decoder takes any analysis rate; at the files' own 44.1 kHz most tests compare samples without resampling.
RATE = 44_100
REPO = Path(__file__).resolve().parent.parent
DEFAULT_PEAK_BYTES = 48 * 2**20  # what any test here may allocate at once (the largest record is 60 s stereo)
TEST_TIME_S = 30.0
F = TypeVar("F", bound=Callable[..., Any])


def peak_bytes(limit: int | None) -> Callable[[F], F]:
    """Give a test another memory bound than the default; None for tests that run the whole engine, whose numba
    compilation is 3x slower under tracemalloc (their decoding is bounded by the tests here that only decode)."""

    def mark(test: F) -> F:
        test.peak_bytes = limit  # type: ignore[attr-defined]
        return test

    return mark


@pytest.fixture(autouse=True)
def bounded(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that allocates more than its bound (``@peak_bytes``, default 48 MiB) or runs over 30 s."""
    limit = getattr(request.function, "peak_bytes", DEFAULT_PEAK_BYTES)
    if limit is not None:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        yield
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert limit is None or peak < limit, f"allocated {peak / 2**20:.1f} MiB at once, bound {limit / 2**20:.1f} MiB"
    assert time.perf_counter() - started < TEST_TIME_S


def tone(seconds: float, rate: int, channels: int) -> np.ndarray:
    """A decaying two-tone signal with different content per channel: float32 (frames, channels), peak < 0.5."""
    t = np.arange(round(seconds * rate)) / rate
    columns = [
        0.3 * np.sin(2 * np.pi * (220.0 + 55.0 * c) * t) * np.exp(-(t % 0.5) * 4) + 0.1 * np.sin(2 * np.pi * 97 * t)
        for c in range(channels)
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def write(path: Path, audio: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> Path:
    sf.write(path, audio, rate, format=fmt, subtype=subtype)
    return path


def set_flac_total_frames(path: Path, frames: int) -> None:
    """Rewrite the 36-bit total-samples field of a FLAC's STREAMINFO (0 = "unknown", which FLAC allows)."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO is the first metadata block
    offset = 8 + 10  # after min/max block size (2 + 2) and min/max frame size (3 + 3)
    packed = int.from_bytes(data[offset : offset + 8], "big")  # rate 20, channels 3, bits 5, total samples 36
    packed = (packed & ~((1 << 36) - 1)) | frames
    data[offset : offset + 8] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(data))


def sequential_reference(path: Path) -> np.ndarray:
    """The whole file in one libsndfile call (no seeks): what every block and segment read must reproduce."""
    with sf.SoundFile(path) as handle:
        frames = handle.frames if handle.frames < UNKNOWN_FRAMES else 10**7
        return handle.read(frames + 65_536, dtype="float32", always_2d=True)


def analysis_reference(original: np.ndarray, rate: int) -> np.ndarray:
    mono = original @ np.full(original.shape[1], 1.0 / original.shape[1], np.float32)
    return mono if rate == RATE else soxr.resample(mono, rate, RATE, quality="HQ")


# --- non-seekable codecs: soundfile raises ValueError on a plain read -------------------------------------------

NON_SEEKABLE_IN_ALLOWED_CONTAINERS = [
    ("WAV", "GSM610"),
    ("AIFF", "GSM610"),
    ("W64", "GSM610"),
    ("WAV", "G721_32"),
    ("WAV", "NMS_ADPCM_16"),
    ("WAV", "NMS_ADPCM_24"),
    ("WAV", "NMS_ADPCM_32"),
]
NON_SEEKABLE_IN_REFUSED_CONTAINERS = [
    ("AU", "G721_32", "AU"),
    ("AU", "G723_24", "AU"),
    ("AU", "G723_40", "AU"),
    ("XI", "DPCM_8", "XI"),
    ("XI", "DPCM_16", "XI"),
]


def _assert_non_seekable(path: Path) -> None:
    """The case is the hostile one: libsndfile cannot seek it, and reading it whole (the old decoder's
    ``SoundFile.read()``) raises ValueError."""
    with sf.SoundFile(path) as handle:
        assert not handle.seekable()
        with pytest.raises(ValueError, match="non-seekable"):
            handle.read()


@pytest.mark.parametrize(("fmt", "subtype"), NON_SEEKABLE_IN_ALLOWED_CONTAINERS)
def test_non_seekable_codecs_decode_sequentially(tmp_path: Path, fmt: str, subtype: str) -> None:
    path = write(tmp_path / f"voice.{fmt.lower()}", tone(3.0, 8_000, 1), 8_000, fmt, subtype)
    _assert_non_seekable(path)
    reference = sequential_reference(path)
    with decode_audio(path, RATE) as audio:
        assert audio.codec == f"{fmt}/{subtype}"
        assert (audio.original_rate, audio.channels, audio.frames) == (8_000, 1, reference.shape[0])
        np.testing.assert_allclose(audio.mono, analysis_reference(reference, 8_000), atol=1e-6)
        # Read forward past the start, then back (the reader reopens), then a segment running off the end.
        np.testing.assert_array_equal(audio.read(16_000, 17_000), reference[16_000:17_000])
        np.testing.assert_array_equal(audio.read(100, 900), reference[100:900])
        tail = audio.read(audio.frames - 50, audio.frames + 50)
        np.testing.assert_array_equal(tail, reference[-50:])


@pytest.mark.parametrize(("fmt", "subtype", "name"), NON_SEEKABLE_IN_REFUSED_CONTAINERS)
def test_non_seekable_codecs_in_refused_containers_are_415(tmp_path: Path, fmt: str, subtype: str, name: str) -> None:
    path = write(tmp_path / "voice.bin", tone(1.0, 8_000, 1), 8_000, fmt, subtype)
    _assert_non_seekable(path)
    with pytest.raises(AudioDecodeError, match=f"^{name} files are not supported .*MP3 expected"):
        decode_audio(path, RATE)


# --- huge and non-finite float samples -------------------------------------------------------------------------


@peak_bytes(None)  # the whole engine runs here
def test_huge_finite_float_samples_are_normalised_for_analysis(tmp_path: Path, chopper) -> None:
    from samplechop.service.engine import ChopParams, slice_files

    music = beat_record(4.0, bpm=120.0, rate=RATE, seed=5).audio
    path = write(tmp_path / "loud.wav", (music * np.float32(1e36)).astype(np.float32), RATE, "WAV", "FLOAT")
    with decode_audio(path, RATE) as audio:
        assert np.all(np.isfinite(audio.mono))
        # Normalised, not clipped: the analysis sees the music at full scale.
        reference = analysis_reference(music / np.max(np.abs(music)), RATE)
        np.testing.assert_allclose(audio.mono, reference, atol=1e-6)
        assert float(np.max(np.abs(audio.original))) > 1e35  # the original is left as it is
    record = chopper.chop(path, ChopParams(chops=3, top_n=6))  # librosa saw finite, full-scale audio
    assert len(record.result.chops) == 3
    for _name, data in slice_files(record):
        pad, _rate = sf.read(io.BytesIO(data), dtype="float32")
        assert np.all(np.abs(pad) <= 1.0)  # slices are clipped to full scale


def test_the_largest_float32_does_not_overflow_the_analysis(tmp_path: Path) -> None:
    extreme = np.full((4_410, 2), np.finfo(np.float32).max, dtype=np.float32)
    extreme[::2] *= -1
    path = write(tmp_path / "extreme.wav", extreme, RATE, "WAV", "FLOAT")
    with decode_audio(path, RATE) as audio:
        assert np.all(np.isfinite(audio.mono)) and float(np.max(np.abs(audio.mono))) <= 1.0


def test_finite_doubles_beyond_float32_are_normalised(tmp_path: Path) -> None:
    music = tone(1.0, RATE, 2).astype(np.float64)
    path = write(tmp_path / "double.wav", music * 1e300, RATE, "WAV", "DOUBLE")
    with decode_audio(path, RATE) as audio:
        reference = analysis_reference((music / np.max(np.abs(music))).astype(np.float32), RATE)
        np.testing.assert_allclose(audio.mono, reference, atol=1e-6)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_samples_are_refused(tmp_path: Path, bad: float) -> None:
    audio = tone(1.0, RATE, 2)
    audio[1234, 1] = bad
    with pytest.raises(AudioDecodeError, match="non-finite"):
        decode_audio(write(tmp_path / "bad.wav", audio, RATE, "WAV", "FLOAT"), RATE)


# --- FLAC of unknown length -----------------------------------------------------------------------------------


@pytest.fixture
def unknown_length_flac(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = write(tmp_path / "unknown.flac", tone(3.0, RATE, 2), RATE, "FLAC", "PCM_16")
    reference = sequential_reference(path)
    set_flac_total_frames(path, 0)
    assert sf.info(path).frames == UNKNOWN_FRAMES  # what made the old decoder call it 2e14 s long
    return path, reference


def test_unknown_length_flac_streams_to_its_end(unknown_length_flac: tuple[Path, np.ndarray]) -> None:
    path, reference = unknown_length_flac
    with decode_audio(path, RATE, max_duration_s=600.0) as audio:
        assert audio.frames == reference.shape[0] == 3 * RATE
        assert audio.duration_s == pytest.approx(3.0)
        np.testing.assert_allclose(audio.mono, analysis_reference(reference, RATE), atol=1e-6)
        np.testing.assert_array_equal(audio.read(100_000, 101_000), reference[100_000:101_000])
        np.testing.assert_array_equal(audio.read(5, 500), reference[5:500])


def test_unknown_length_flac_is_stopped_at_the_limits_while_streaming(
    unknown_length_flac: tuple[Path, np.ndarray],
) -> None:
    path, _reference = unknown_length_flac
    with pytest.raises(AudioTooLong, match=r"at least \d\.\d s long; the limit is 2 s"):
        decode_audio(path, RATE, max_duration_s=2.0)
    with pytest.raises(AudioLimitError, match=r"limit is 0\.2 M"):
        decode_audio(path, RATE, max_samples=200_000)


# --- the AppleDouble "._" probe --------------------------------------------------------------------------------


def test_an_appledouble_file_does_not_break_mp3s_without_id3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "record.mp3", tone(2.0, RATE, 2), RATE, "MP3", "MPEG_LAYER_III")
    data = path.read_bytes()
    assert data[:3] != b"ID3" and data[0] == 0xFF  # no tag: libsndfile tries the resource fork before MPEG sync
    expected = decode_audio(data, RATE).mono
    resource_fork = b"\x00\x05\x16\x07" + bytes(60)  # an AppleDouble header, as macOS leaves on FAT drives
    monkeypatch.chdir(tmp_path)
    Path("._").write_bytes(resource_fork)
    (tmp_path / "._record.mp3").write_bytes(resource_fork)
    with pytest.raises(sf.LibsndfileError):  # the failure this guards against, from memory and from the path
        sf.info(io.BytesIO(data))
    with pytest.raises(sf.LibsndfileError):
        sf.info(path)
    for source in (data, path, "record.mp3"):
        with decode_audio(source, RATE) as audio:
            assert audio.codec == "MP3/MPEG_LAYER_III"
            np.testing.assert_array_equal(audio.mono, expected)


# --- absurd rates, channel counts and lengths: refused from the header -----------------------------------------


@pytest.fixture
def rate_655k_8ch_flac(tmp_path: Path) -> Path:
    """The issue's file: 655,350 Hz, 8 channels, declaring 60 s (the samples here are 10 ms; the header is what
    counts, and the decoder must refuse from it without decoding)."""
    path = write(tmp_path / "wide.flac", np.zeros((6_554, 8), np.float32), 655_350, "FLAC", "PCM_16")
    set_flac_total_frames(path, 60 * 655_350)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.frames) == (655_350, 8, 60 * 655_350)
    return path


@peak_bytes(2**20)
def test_655_khz_8_channels_is_refused_within_a_second(rate_655k_8ch_flac: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(AudioLimitError, match="655350 Hz; the most accepted is 384000 Hz"):
        decode_audio(rate_655k_8ch_flac, RATE)
    assert time.perf_counter() - started < 1.0


@peak_bytes(2**20)
def test_255_channel_vorbis_is_refused(tmp_path: Path) -> None:
    noise = (0.1 * np.random.default_rng(0).standard_normal((800, 255))).astype(np.float32)
    path = write(tmp_path / "many.ogg", noise, 8_000, "OGG", "VORBIS")
    assert sf.info(path).channels == 255
    del noise
    tracemalloc.reset_peak()  # the bound is for the decoder, not for making the file
    with pytest.raises(AudioLimitError, match="255 channels; at most 32"):
        decode_audio(path, RATE)


@peak_bytes(160 * 2**20)  # the last decode reserves its buffer from the declared 10 h, up to 128 MiB (never written)
def test_a_declared_length_over_the_cap_is_refused_before_decoding(tmp_path: Path) -> None:
    path = write(tmp_path / "tenhours.flac", tone(0.1, RATE, 2), RATE, "FLAC", "PCM_16")
    set_flac_total_frames(path, 10 * 3600 * RATE)
    started = time.perf_counter()
    with pytest.raises(AudioLimitError, match=r"36000\.0 s long at 44100 Hz with 2 channel\(s\)"):
        decode_audio(path, RATE)
    with pytest.raises(AudioTooLong, match=r"the record is 36000\.0 s long; the limit is 600 s"):
        decode_audio(path, RATE, max_samples=10**12, max_duration_s=600.0)
    assert time.perf_counter() - started < 1.0
    with decode_audio(path, RATE, max_samples=10**12, max_duration_s=36_001.0) as audio:  # only the real 0.1 s
        assert audio.frames == round(0.1 * RATE)


def test_the_cap_counts_the_upsampled_analysis_copy(tmp_path: Path) -> None:
    path = write(tmp_path / "phone.wav", tone(2.0, 8_000, 1), 8_000, "WAV", "PCM_16")
    with pytest.raises(AudioLimitError, match=r"0\.1 M samples to analyse"):  # 16 k decoded, 88 k analysed
        decode_audio(path, RATE, max_samples=50_000)
    assert decode_audio(path, RATE, max_samples=100_000).mono.size == 2 * RATE


def test_too_many_channels_and_low_rates_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AudioLimitError, match="40 channels"):
        decode_audio(write(tmp_path / "wide.wav", np.zeros((100, 40), np.float32), RATE, "WAV", "PCM_16"), RATE)
    with pytest.raises(AudioLimitError, match="500 Hz; the least accepted is 1000 Hz"):
        decode_audio(write(tmp_path / "slow.wav", tone(1.0, 500, 1), 500, "WAV", "PCM_16"), RATE)


# --- the container allow-list ----------------------------------------------------------------------------------

REFUSED_CONTAINERS = [
    ("AU", "PCM_16", "AU files are not supported"),
    ("CAF", "PCM_16", "CAF files are not supported"),
    ("VOC", "PCM_16", "VOC files are not supported"),
    ("MAT5", "DOUBLE", "MAT5 files are not supported"),
    ("MAT4", "DOUBLE", "not a readable audio file"),
    ("NIST", "PCM_16", "NIST files are not supported"),
    ("IRCAM", "PCM_16", "not a readable audio file"),
    ("PAF", "PCM_16", "PAF files are not supported"),
]


@pytest.mark.parametrize(("fmt", "subtype", "message"), REFUSED_CONTAINERS)
def test_containers_outside_the_allow_list_are_refused(tmp_path: Path, fmt: str, subtype: str, message: str) -> None:
    path = write(tmp_path / "record.wav", tone(0.5, RATE, 2), RATE, fmt, subtype)
    assert sf.info(path).format == fmt  # libsndfile itself would read it
    with pytest.raises(AudioDecodeError, match=f"^{message}") as raised:
        decode_audio(path, RATE)
    assert "WAV, AIFF, FLAC, OGG or MP3 expected" in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body>not audio</body></html>",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"OggS" + bytes(60),
        b"\xff\xfb" + bytes(9),
    ],
)
def test_garbage_behind_an_allowed_magic_is_415(data: bytes) -> None:
    with pytest.raises(AudioDecodeError, match="not a readable audio file"):
        decode_audio(data, RATE)


ALLOWED = [
    ("WAV", "PCM_16", 44_100, "RIFF"),
    ("WAVEX", "PCM_24", 48_000, "RIFF"),
    ("RF64", "PCM_16", 44_100, "RF64"),
    ("W64", "FLOAT", 44_100, "riff"),
    ("AIFF", "PCM_16", 44_100, "FORM"),
    ("AIFF", "FLOAT", 44_100, "FORM"),  # written as AIFC
    ("FLAC", "PCM_24", 96_000, "fLaC"),
    ("OGG", "VORBIS", 44_100, "OggS"),
    ("OGG", "OPUS", 48_000, "OggS"),
    ("MP3", "MPEG_LAYER_III", 44_100, "\xff"),
]


@pytest.mark.parametrize(("fmt", "subtype", "rate", "magic"), ALLOWED)
def test_allowed_containers_decode(tmp_path: Path, fmt: str, subtype: str, rate: int, magic: str) -> None:
    path = write(tmp_path / "record", tone(1.5, rate, 2), rate, fmt, subtype)
    assert path.read_bytes().startswith(magic.encode("latin-1"))
    with decode_audio(path.read_bytes(), RATE) as audio:
        assert (audio.original_rate, audio.channels) == (rate, 2)
        assert audio.codec.startswith(fmt if fmt != "WAVEX" else "WAV")
        assert abs(audio.mono.size - 1.5 * RATE) < 0.05 * RATE
        assert 0.05 < float(np.max(np.abs(audio.mono))) <= 1.0


# --- the original, read in segments ----------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_24"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", None)])
def test_segments_of_the_original_are_sample_exact(tmp_path: Path, fmt: str, subtype: str | None) -> None:
    path = write(tmp_path / "record", tone(20.0, RATE, 2), RATE, fmt, subtype)
    reference = sequential_reference(path)
    with decode_audio(path, RATE) as audio:
        assert audio.frames == reference.shape[0]
        # Out of order on purpose: MP3 is read forward and reopened, the others seek.
        for start, stop in [(600_000, 610_000), (123_457, 130_000), (0, 10), (800_000, 800_200), (5, 6)]:
            np.testing.assert_array_equal(audio.read(start, stop), reference[start:stop])
        assert audio.read(audio.frames, audio.frames + 10).shape == (0, 2)


def test_soundfile_block_reads_garble_mp3_which_is_why_the_decoder_bypasses_them(tmp_path: Path) -> None:
    path = write(tmp_path / "record.mp3", tone(10.0, RATE, 2), RATE, "MP3")
    reference = sequential_reference(path)
    with sf.SoundFile(path) as handle:
        blocks = np.concatenate(list(handle.blocks(65_536, dtype="float32", always_2d=True)))
    assert float(np.max(np.abs(blocks - reference))) > 0.01  # if soundfile ever fixes this, the note can go
    with decode_audio(path, RATE) as audio:
        np.testing.assert_allclose(audio.mono, analysis_reference(reference, RATE), atol=1e-6)


def test_the_private_copy_is_removed_on_close(tmp_path: Path) -> None:
    audio = decode_audio(write(tmp_path / "r.wav", tone(1.0, RATE, 2), RATE, "WAV").read_bytes(), RATE)
    folder = Path(audio._reader._copy.folder)
    assert (folder / "record").is_file()
    audio.close()
    assert not folder.exists()
    with pytest.raises(ValueError, match="closed"):
        audio.read(0, 10)


def test_fades_are_exact_at_both_ends_of_a_long_slice() -> None:
    from samplechop.service.engine.slices import fade_gain

    length, fade = 30_000_001, 88  # a 11-min slice at 44.1 kHz: indices beyond float32's exact integers
    head = fade_gain(0, 1000, length, fade)
    tail = fade_gain(length - 1000, 1000, length, fade)
    assert head is not None and tail is not None and fade_gain(5000, 1000, length, fade) is None
    np.testing.assert_array_equal(head[:fade, 0], np.arange(fade, dtype=np.float32) / fade)
    np.testing.assert_array_equal(tail[-fade:, 0], np.arange(fade, dtype=np.float32)[::-1] / fade)
    assert np.all(head[fade:] == 1.0) and np.all(tail[:-fade] == 1.0)


# --- memory: O(the mono analysis signal), not O(the original) ---------------------------------------------------


@peak_bytes(40 * 2**20)
def test_decoding_costs_the_mono_analysis_copy_not_the_original(tmp_path: Path) -> None:
    from samplechop.service.engine.slices import slice_wav_bytes

    seconds = 60.0
    path = tmp_path / "minute.wav"
    with sf.SoundFile(path, "w", samplerate=48_000, channels=2, format="WAV", subtype="PCM_16") as out:
        for _ in range(int(seconds)):
            out.write(tone(1.0, 48_000, 2))
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    audio = decode_audio(path, RATE)
    _, peak = tracemalloc.get_traced_memory()
    original_bytes = audio.frames * audio.channels * 4  # 23 MB as float32, what the old decoder held
    assert audio.mono.nbytes == pytest.approx(seconds * RATE * 4, rel=1e-3)
    assert peak - before < audio.mono.nbytes + 4 * 2**20 < original_bytes
    # A slice as long as the record costs its WAV bytes (twice, for the copy out of the buffer) and one block.
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    wav = slice_wav_bytes(audio, 0, audio.frames, audio.original_rate, audio.channels, 16)
    _, peak = tracemalloc.get_traced_memory()
    assert len(wav) == audio.frames * 4 + 44
    assert peak - before < 2.5 * len(wav) + 4 * 2**20
    del wav  # compared a second at a time, so the check itself stays small
    pad_blocks = sf.blocks(io.BytesIO(slice_wav_bytes(audio, 0, audio.frames, 48_000, 2, 16)), 48_000, dtype="float32")
    for second, (pad, reference) in enumerate(zip(pad_blocks, sf.blocks(path, 48_000, dtype="float32"), strict=True)):
        interior = slice(1000 if second == 0 else 0, -1000 if second == seconds - 1 else None)  # off the fades
        np.testing.assert_allclose(pad[interior], reference[interior], atol=1 / 2**15)
    audio.close()


# --- the command line: one line, exit status 2, the next record still chopped ----------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samplechop.service.cli", "chop", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_cli_refuses_the_655_khz_file_in_one_line(rate_655k_8ch_flac: Path) -> None:
    completed = _cli(str(rate_655k_8ch_flac))
    assert completed.returncode == 2
    assert completed.stderr == "samplechop: the sample rate is 655350 Hz; the most accepted is 384000 Hz\n"
    assert completed.stdout == ""


def test_cli_folder_mode_reports_each_bad_record_and_chops_the_rest(tmp_path: Path) -> None:
    crate = tmp_path / "crate"
    crate.mkdir()
    write(crate / "a_phone.wav", beat_record(4.0, rate=8_000, channels=1, seed=2).audio, 8_000, "WAV", "GSM610")
    write(crate / "b_sun.wav", tone(0.5, RATE, 2), RATE, "AU", "PCM_16")
    write(crate / "c_many.ogg", np.zeros((800, 40), np.float32), 8_000, "OGG", "VORBIS")
    (crate / "d_text.mp3").write_text("not audio")
    out = tmp_path / "pads"
    completed = _cli(str(crate), "--chops", "2", "--top-n", "4", "--format", "json", "--out", str(out))
    assert completed.returncode == 2
    errors = [line for line in completed.stderr.splitlines() if "samplechop:" in line]
    assert len(errors) == 3 and "Traceback" not in completed.stderr
    assert "b_sun.wav: AU files are not supported" in errors[0]
    assert "c_many.ogg: the record has 40 channels" in errors[1]
    assert "d_text.mp3: not a readable audio file" in errors[2]
    documents = json.loads(completed.stdout)
    assert [Path(d["record"]).name for d in documents] == ["a_phone.wav"]
    assert (out / "a-phone" / "chops.json").exists() and not (out / "b-sun").exists()


@peak_bytes(None)  # the whole engine runs here
def test_cli_in_process_gives_one_line_for_the_limit_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "unknown.flac", tone(3.0, RATE, 2), RATE, "FLAC", "PCM_16")
    set_flac_total_frames(path, 0)
    huge = write(tmp_path / "huge.wav", (tone(3.0, RATE, 2) * np.float32(1e36)), RATE, "WAV", "FLOAT")
    assert main(["chop", str(path), "--chops", "2", "--top-n", "4", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["duration"] == pytest.approx(3.0)
    assert main(["chop", str(huge), "--chops", "2", "--top-n", "4", "--format", "json"]) == 0
    capsys.readouterr()
    wide = write(tmp_path / "wide.wav", np.zeros((10, 33), np.float32), RATE, "WAV", "PCM_16")
    assert main(["chop", str(wide)]) == 2
    assert capsys.readouterr().err == "samplechop: the record has 33 channels; at most 32 are accepted\n"


def test_decoded_audio_keeps_its_attributes(tmp_path: Path) -> None:
    path = write(tmp_path / "r.flac", tone(2.0, 48_000, 2), 48_000, "FLAC", "PCM_16")
    with decode_audio(path, RATE) as audio:
        assert isinstance(audio, DecodedAudio)
        assert (audio.analysis_rate, audio.original_rate, audio.channels, audio.codec) == (
            RATE,
            48_000,
            2,
            "FLAC/PCM_16",
        )
        assert audio.duration_s == pytest.approx(2.0)
        assert audio.original.shape == (96_000, 2) and audio.original.dtype == np.float32
