"""Mixing and production: per-stem processing, balance, a reverb send, then a mastering and distribution chain
(EQ, glue compression, saturation, loud limiting, tape wow and flutter, vinyl noise and crackle, band-limiting to
22/11 kHz, lossy MP3/Vorbis round trips), each drawn per record.

Everything is mono: the trainer's features are computed on a mono fold-down, so stereo would double the cost of
every processor for nothing the model sees (stems are folded to mono as they leave the synthesiser).

Every processor keeps transients where they were: pedalboard's filters, dynamics, chorus and limiter are
zero-latency or latency-compensated, soxr resampling is linear-phase with its delay removed, the lossy codecs are
decoded gaplessly, and tape wow is a zero-mean time modulation of at most ±2 ms (all measured, see CORPUS.md).
"""

from __future__ import annotations

import io

import numpy as np
import pedalboard as pb
import soundfile as sf
import soxr

from samplechop.trainer.corpus.arrangement import Track

# Production profiles: probabilities of each master stage (tuned by ear on renders; not on the dev set).
PROFILES: dict[str, dict[str, float]] = {
    "clean": {
        "glue": 0.5,
        "saturate": 0.15,
        "loud": 0.35,
        "tape": 0.05,
        "vinyl": 0.03,
        "bandlimit": 0.3,
        "lossy": 0.25,
    },
    "loud": {"glue": 0.7, "saturate": 0.3, "loud": 0.9, "tape": 0.03, "vinyl": 0.02, "bandlimit": 0.3, "lossy": 0.3},
    "live": {"glue": 0.4, "saturate": 0.2, "loud": 0.4, "tape": 0.15, "vinyl": 0.08, "bandlimit": 0.3, "lossy": 0.2},
    "vintage": {"glue": 0.5, "saturate": 0.5, "loud": 0.3, "tape": 0.45, "vinyl": 0.3, "bandlimit": 0.45, "lossy": 0.2},
    "dusty": {"glue": 0.6, "saturate": 0.6, "loud": 0.4, "tape": 0.4, "vinyl": 0.6, "bandlimit": 0.5, "lossy": 0.25},
}

ROLE_LEVEL_DB = {"drums": 0.0, "bass": -1.0, "guitar": -3.0, "keys": -4.0, "pad": -10.0, "lead": -3.0, "vocal": 0.0}
OGG_BLOCK = 32768  # frames per write: one long Vorbis write segfaults libsndfile 1.2.2


def _active_rms(x: np.ndarray, sample_rate: int) -> float:
    """RMS over the 50 ms frames where the stem plays (a part that sits out half the song is not quieter)."""
    hop = int(0.05 * sample_rate)
    n = x.shape[0] // hop
    if n == 0:
        return float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    frames = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))
    loud = frames[frames > frames.max() * 10 ** (-40 / 20)] if frames.max() > 0 else frames
    return float(np.sqrt(np.mean(loud**2))) if loud.size else 0.0


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _cut(hz: float, sample_rate: int) -> float:
    """A filter corner below Nyquist (a corner above it makes the biquad unstable at low sample rates)."""
    return min(hz, 0.45 * sample_rate)


def _saturate(x: np.ndarray, drive_db: float) -> np.ndarray:
    """tanh waveshaping (what pedalboard's Distortion does), in numpy: 10x cheaper on long mono signals."""
    return np.tanh(x * np.float32(10 ** (drive_db / 20))).astype(np.float32)


def _stem_chain(
    track: Track, rng: np.random.Generator, beat_s: float, sample_rate: int
) -> tuple[list[pb.Plugin], float, list[str]]:
    """(plugins, pre-chain saturation drive in dB or 0, names)."""
    chain: list[pb.Plugin] = []
    names: list[str] = []
    drive = 0.0
    role = track.role
    if track.fx == "distortion":
        drive = _u(rng, 16, 36)
        chain += [
            pb.LowpassFilter(_cut(_u(rng, 3500, 7000), sample_rate)),
            pb.PeakFilter(_u(rng, 700, 2200), _u(rng, -5, 5), 0.9),
        ]
        names.append(f"{track.name}: amp distortion {drive:.0f} dB + cabinet filter")
    if role == "drums":
        if rng.random() < 0.3:
            drive = _u(rng, 2, 12)
            names.append(f"drums: saturation {drive:.0f} dB")
        if rng.random() < 0.5:
            thr, ratio = _u(rng, -24, -8), _u(rng, 2, 6)
            chain.append(pb.Compressor(thr, ratio, _u(rng, 1, 15), _u(rng, 50, 200)))
            names.append(f"drums: bus compressor {thr:.0f} dB {ratio:.1f}:1")
        if rng.random() < 0.4:
            chain += [
                pb.LowShelfFilter(_u(rng, 60, 140), _u(rng, 0, 6)),
                pb.HighShelfFilter(_cut(_u(rng, 5000, 10000), sample_rate), _u(rng, -6, 4)),
            ]
            names.append("drums: shelving EQ")
    elif role == "bass":
        if rng.random() < 0.6:
            chain.append(pb.Compressor(_u(rng, -24, -10), _u(rng, 2, 5), _u(rng, 3, 20), 120))
            names.append("bass: compressor")
        if rng.random() < 0.5:
            hz = _u(rng, 1200, 6000)
            chain.append(pb.LowpassFilter(_cut(hz, sample_rate)))
            names.append(f"bass: lowpass {hz:.0f} Hz")
    elif role in ("keys", "guitar") and track.fx != "distortion":
        if rng.random() < 0.2:
            chain.append(pb.Chorus(_u(rng, 0.3, 2.0), _u(rng, 0.1, 0.4), 7.0, 0.0, _u(rng, 0.2, 0.5)))
            names.append(f"{track.name}: chorus")
        elif rng.random() < 0.05:
            chain.append(pb.Phaser(_u(rng, 0.2, 1.5), 0.5, _u(rng, 500, 2000), 0.3, 0.4))
            names.append(f"{track.name}: phaser")
    elif role == "lead":
        if rng.random() < 0.5:
            chain.append(pb.Compressor(_u(rng, -24, -10), _u(rng, 2, 5), 5, 150))
        if rng.random() < 0.25:
            delay = beat_s * float(rng.choice([0.75, 1.0, 0.5]))
            chain.append(pb.Delay(delay, _u(rng, 0.15, 0.4), _u(rng, 0.1, 0.3)))
            names.append(f"lead: tempo delay {delay * 1000:.0f} ms")
    elif role == "vocal":
        chain.append(pb.HighpassFilter(_u(rng, 80, 160)))
        if rng.random() < 0.8:
            chain.append(pb.Compressor(_u(rng, -26, -12), _u(rng, 3, 6), _u(rng, 2, 10), _u(rng, 60, 150)))
            names.append("vocal: compressor")
        if rng.random() < 0.25:
            delay = beat_s * float(rng.choice([0.75, 1.0, 0.5]))
            chain.append(pb.Delay(delay, _u(rng, 0.1, 0.35), _u(rng, 0.1, 0.25)))
            names.append(f"vocal: tempo delay {delay * 1000:.0f} ms")
    elif role == "pad" and rng.random() < 0.5:
        chain.append(pb.LowpassFilter(_cut(_u(rng, 2500, 8000), sample_rate)))
    return chain, drive, names


def mix_stems(
    stems: list[np.ndarray], tracks: list[Track], rng: np.random.Generator, sample_rate: int, beat_s: float
) -> tuple[np.ndarray, list[str]]:
    """Balance, process and sum the (mono) stems; returns (n,) float32 and the effect names."""
    n = stems[0].shape[0] if stems else 0
    out = np.zeros(n, dtype=np.float32)
    send = np.zeros(n, dtype=np.float32)
    names: list[str] = []
    for stem, track in zip(stems, tracks, strict=True):
        rms = _active_rms(stem, sample_rate)
        if rms <= 0:
            continue
        chain, drive, stem_names = _stem_chain(track, rng, beat_s, sample_rate)
        x = stem * np.float32(0.1 / rms)  # same level into every processor: a drive means the same on every record
        if drive:
            if track.fx == "distortion":
                x = pb.HighpassFilter(_u(rng, 70, 140))(x[None, :], sample_rate)[0]  # tighten the lows before the amp
            x = _saturate(x, drive)
        if chain:
            x = pb.Pedalboard(chain)(x[None, :], sample_rate)[0]
        if drive or chain:
            x *= np.float32(0.1 / max(_active_rms(x, sample_rate), 1e-9))
        level_db = ROLE_LEVEL_DB.get(track.role, -4.0) + _u(rng, -3, 3)
        x *= np.float32(10 ** (level_db / 20))
        out += x
        send_db = {"drums": -18.0, "bass": -40.0, "vocal": -8.0}.get(track.role, -10.0) + _u(rng, -6, 4)
        send += x * np.float32(10 ** (send_db / 20))
        names += stem_names
    if rng.random() < 0.7:
        room, damp = _u(rng, 0.15, 0.85), _u(rng, 0.2, 0.8)
        wet = pb.Reverb(room_size=room, damping=damp, wet_level=1.0, dry_level=0.0, width=0.0)(
            send[None, :], sample_rate
        )
        out += wet[0].astype(np.float32)
        names.append(f"reverb send room {room:.2f}")
    return out, names


def tape_wow(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Wow (slow) and flutter (fast) as a zero-mean time modulation: y(t) = x(t - d(t)), |d| ≤ ~2 ms."""
    n = x.shape[0]
    t = np.arange(n) / sample_rate
    wow_s, wow_hz = _u(rng, 0.0003, 0.0015), _u(rng, 0.3, 1.5)
    flutter_s, flutter_hz = _u(rng, 0.00003, 0.00015), _u(rng, 6, 12)
    d = wow_s * np.sin(2 * np.pi * wow_hz * t + _u(rng, 0, 2 * np.pi)) + flutter_s * np.sin(2 * np.pi * flutter_hz * t)
    y = np.interp(np.arange(n) - d * sample_rate, np.arange(n), x).astype(np.float32)
    return y, f"tape wow {wow_s * 1000:.1f} ms @ {wow_hz:.1f} Hz, flutter {flutter_s * 1e6:.0f} us"


def vinyl_noise(rng: np.random.Generator, n: int, sample_rate: int, hiss_db: float, crackle_per_s: float) -> np.ndarray:
    """Hiss, rumble and crackle: sparse clicks with a fast exponential decay and random polarity."""
    hiss = rng.standard_normal(n).astype(np.float32) * np.float32(10 ** (hiss_db / 20))
    hiss = pb.LowpassFilter(cutoff_frequency_hz=6000.0)(hiss[None, :], sample_rate)[0]
    rumble = rng.standard_normal(n).astype(np.float32) * np.float32(10 ** ((hiss_db + 6) / 20))
    rumble = pb.LowpassFilter(cutoff_frequency_hz=40.0)(rumble[None, :], sample_rate)[0]
    clicks = np.zeros(n, dtype=np.float32)
    n_clicks = rng.poisson(crackle_per_s * n / sample_rate)
    positions = rng.integers(0, max(1, n - 64), size=n_clicks)
    amps = (rng.pareto(3.0, size=n_clicks) * 0.02 + 0.005) * rng.choice([-1.0, 1.0], size=n_clicks)
    clicks[positions] = amps.astype(np.float32)
    kernel = np.exp(-np.arange(32) / 4.0).astype(np.float32)
    return hiss + rumble + np.convolve(clicks, kernel)[:n].astype(np.float32)


def lossy(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    n = x.shape[0]
    if rng.random() < 0.6:
        q = _u(rng, 2, 9)
        y = pb.MP3Compressor(vbr_quality=q)(x[None, :], sample_rate)[0]
        return y[:n].astype(np.float32), f"mp3 VBR V{q:.0f}"
    level = _u(rng, 0.3, 0.9)  # libsndfile's Vorbis compression level: higher = smaller file, lower quality
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", sample_rate, 1, format="OGG", subtype="VORBIS", compression_level=level) as f:
        for i in range(0, n, OGG_BLOCK):
            f.write(x[i : i + OGG_BLOCK])
    buf.seek(0)
    y, _ = sf.read(buf, dtype="float32")
    y = y[:n]
    if y.shape[0] < n:
        y = np.pad(y, (0, n - y.shape[0]))
    return y.astype(np.float32), f"vorbis level {level:.2f}"


def master(
    audio: np.ndarray, sample_rate: int, rng: np.random.Generator, profile: str, level_from: int = 0
) -> tuple[np.ndarray, list[str]]:
    """audio: (n,) float32. Returns (n,) float32 in [-1, 1] and the stage names. The final peak level is set on
    ``audio[level_from:]`` (the record, not its pre-roll)."""
    p = PROFILES[profile]
    names: list[str] = [f"profile {profile}"]
    x = audio.astype(np.float32)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > 0:
        x = x * np.float32(0.5 / peak)
    chain: list[pb.Plugin] = []
    if rng.random() < 0.6:
        chain += [
            pb.LowShelfFilter(_u(rng, 60, 200), _u(rng, -4, 5)),
            pb.HighShelfFilter(_cut(_u(rng, 3000, 10000), sample_rate), _u(rng, -8, 4)),
        ]
        names.append("master EQ")
    if rng.random() < 0.5:
        hz = _u(rng, 25, 150)
        chain.append(pb.HighpassFilter(hz))
        names.append(f"highpass {hz:.0f} Hz")
    if rng.random() < p["glue"]:
        chain.append(pb.Compressor(_u(rng, -20, -8), _u(rng, 1.5, 4), _u(rng, 5, 30), _u(rng, 80, 300)))
        names.append("glue compressor")
    if chain:
        x = pb.Pedalboard(chain)(x[None, :], sample_rate)[0]
    if rng.random() < p["saturate"]:
        drive = _u(rng, 2, 14)
        x = _saturate(x, drive) * np.float32(0.5)
        names.append(f"saturation {drive:.0f} dB")
    if rng.random() < p["loud"]:
        push = _u(rng, 4, 14)
        limiter = pb.Limiter(threshold_db=_u(rng, -2, -0.3), release_ms=_u(rng, 30, 200))
        x = limiter((x * np.float32(10 ** (push / 20)))[None, :], sample_rate)[0]
        names.append(f"limiter +{push:.0f} dB")
    if rng.random() < p["tape"]:
        x, name = tape_wow(x, sample_rate, rng)
        names.append(name)
    if rng.random() < p["vinyl"]:
        level = float(np.abs(x).max()) or 1.0
        hiss_db, crackle = _u(rng, -58, -36), _u(rng, 1, 25)
        x = x + vinyl_noise(rng, x.shape[0], sample_rate, hiss_db, crackle) * np.float32(level)
        names.append(f"vinyl hiss {hiss_db:.0f} dB crackle {crackle:.0f}/s")
    if rng.random() < p["bandlimit"]:
        rate = 22050 if rng.random() < 0.75 else 11025
        if rate < sample_rate:
            x = soxr.resample(soxr.resample(x, sample_rate, rate), rate, sample_rate)[: x.shape[0]].astype(np.float32)
            names.append(f"band-limited via {rate} Hz")
    elif rng.random() < 0.3:
        hz = _u(rng, 3000, 12000)
        x = pb.LowpassFilter(_cut(hz, sample_rate))(x[None, :], sample_rate)[0]
        names.append(f"lowpass {_cut(hz, sample_rate):.0f} Hz")
    if rng.random() < p["lossy"]:
        peak = float(np.abs(x).max())
        x = x * np.float32(0.9 / peak) if peak > 0 else x
        x, name = lossy(x, sample_rate, rng)
        names.append(name)
    peak = float(np.abs(x[level_from:]).max()) if x.size > level_from else 0.0
    target_db = _u(rng, -12, -0.3)
    if peak > 0:
        x = x * np.float32(10 ** (target_db / 20) / peak)
    names.append(f"peak {target_db:.1f} dBFS")
    return np.clip(x, -1.0, 1.0).astype(np.float32), names
