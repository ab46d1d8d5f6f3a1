/* One chop as a WAV file made in the browser: for the pad's "WAV" button, the D key and dragging a pad's button or
 * a region out of the page (Chromium's DownloadURL drag), with no round trip to the service.
 *
 * The file is the record's own samples: decoded at the record's own sample rate (the JSON's sample_rate, so nothing
 * is resampled) and channel count, cut at the chop's start and end samples as the page shows them (hand edits
 * included), with the same short raised-cosine fades as the service's slices (samplechop/service/engine/slices.py: FADE_IN_S,
 * FADE_OUT_S, each at most half the slice), 16- or 24-bit (js/wav.js). Unlike the zip's slices it keeps the record's
 * DC offset and has no loop crossfade or smpl/acid chunks: it is the chop exactly as heard on its pad.
 *
 * Names mirror samplechop/service/engine/exports.py: record_slug() and slice_file_name() (`<slug>_NN.wav`).
 */
import { encodeWav } from "./wav.js";

/** samplechop/service/engine/slices.py FADE_IN_S: a 2-ms raised-cosine fade-in (ends before the attack the slicer found). */
export const FADE_IN_S = 0.002;
/** samplechop/service/engine/slices.py FADE_OUT_S: a 5-ms raised-cosine fade-out (a quarter cycle of a 50-Hz bass note). */
export const FADE_OUT_S = 0.005;
/** samplechop/service/engine/exports.py MAX_SLUG_CHARS and FALLBACK_SLUG. */
export const MAX_SLUG_CHARS = 48;
export const FALLBACK_SLUG = "record";
export const WAV_TYPE = "audio/wav";

// exports.py _EXTENSION is r"\.[A-Za-z0-9]{1,5}$"; Python's $ also matches before one final newline.
const EXTENSION = /\.[A-Za-z0-9]{1,5}(?=\n?$)/;

/** exports.py record_slug(): a record's file name as a safe lowercase slug (ASCII letters and digits joined by
 * single "-"): any folder part and one extension dropped, accents folded to ASCII, at most 48 characters, never
 * empty ("record"). "Kevin_MacLeod_-_Vibe_Ace.hq.ogg" → "kevin-macleod-vibe-ace-hq". */
export function recordSlug(name, maxChars = MAX_SLUG_CHARS) {
  const parts = String(name ?? "").split(/[/\\]/);
  const base = parts[parts.length - 1];
  const stem = base.replace(EXTENSION, "") || base;
  // NFKD splits "é" into "e" and a combining accent; dropping everything outside ASCII keeps the "e"
  const ascii = stem.normalize("NFKD").replace(/[^\x00-\x7f]/g, "").toLowerCase();
  const slug = ascii.replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return slug.slice(0, maxChars).replace(/-+$/, "") || FALLBACK_SLUG;
}

/** exports.py slice_file_name(): "<slug>_<index>.wav", the index at least two digits. */
export function chopFileName(slug, index) {
  return `${slug}_${String(index).padStart(2, "0")}.wav`;
}

/** Python's round() for a positive number: halves go to the even neighbour (round(220.5) == 220, the 5-ms fade at
 * 44.1 kHz), where Math.round would go up. */
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  if (x - floor !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The chop's [start, end) in samples of a record of `frames` samples: the page's times are the server's samples
 * to the microsecond (result.py TIME_DECIMALS) or points placed on samples (edit.js onSamples), so rounding gives
 * back the exact sample. */
export function chopFrames(chop, sampleRate, frames) {
  const clamp = (t) => Math.min(frames, Math.max(0, Math.round(t * sampleRate)));
  const start = clamp(chop.start);
  return [start, Math.max(start, clamp(chop.end))];
}

/** sin² from 0 at i = 0 to 1 at i = fade (slices.py _raised_cosine). */
function raisedCosine(i, fade) {
  const s = Math.sin(0.5 * Math.PI * Math.min(i / fade, 1));
  return s * s;
}

/** Frames [start, end) of `channels` (Float32Arrays), faded in and out as slices.py's _EdgeShaper does without DC
 * removal: the gains are float32 and each product is rounded to float32, as numpy computes it there. */
export function fadedSlice(channels, start, end, sampleRate) {
  const length = Math.max(0, end - start);
  const half = Math.floor(length / 2);
  const fadeIn = Math.min(roundHalfEven(FADE_IN_S * sampleRate), half);
  const fadeOut = Math.min(roundHalfEven(FADE_OUT_S * sampleRate), half);
  return channels.map((data) => {
    const out = data.slice(start, start + length);
    for (let i = 0; i < Math.min(fadeIn, length); i += 1) {
      out[i] = Math.fround(out[i] * Math.fround(raisedCosine(i, fadeIn)));
    }
    for (let i = Math.max(0, length - fadeOut); i < length; i += 1) {
      out[i] = Math.fround(out[i] * Math.fround(raisedCosine(length - 1 - i, fadeOut)));
    }
    return out;
  });
}

/** Decode a record (an ArrayBuffer, which is detached) at `sampleRate` with an OfflineAudioContext: the decoder's
 * own output when that is the file's rate, so no sample is resampled. Rejects when the browser cannot decode it. */
export async function decodeAtRate(data, sampleRate) {
  const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
  if (!Offline) throw new Error("this browser has no OfflineAudioContext");
  return new Offline(1, 1, sampleRate).decodeAudioData(data);
}

/** The chops of one decoded record as WAV files, each encoded on first use and kept (with its blob: URL) while the
 * chop, its number and the bit depth stay the same. */
export class ChopFiles {
  /** `buffer`: the record as an AudioBuffer at its own rate; `slug`: the record's slug. */
  constructor(buffer, slug) {
    this.sampleRate = buffer.sampleRate;
    this.frames = buffer.length;
    this.channels = Array.from({ length: buffer.numberOfChannels }, (_, c) => buffer.getChannelData(c));
    this.slug = slug;
    this.files = new Map(); // key → {name, url, size, start, end, bitDepth}
  }

  key(chop, bitDepth) {
    const [start, end] = chopFrames(chop, this.sampleRate, this.frames);
    return `${chop.index}:${start}:${end}:${bitDepth}`;
  }

  /** {name, url, size, start, end, bitDepth} of chop `chop` ({index, start, end} in seconds), or null when the chop
   * holds no sample of the record. */
  file(chop, bitDepth = 16) {
    const key = this.key(chop, bitDepth);
    const known = this.files.get(key);
    if (known) return known;
    const [start, end] = chopFrames(chop, this.sampleRate, this.frames);
    if (end <= start) return null;
    const bytes = encodeWav(fadedSlice(this.channels, start, end, this.sampleRate), this.sampleRate, bitDepth);
    const blob = new Blob([bytes], { type: WAV_TYPE });
    const name = chopFileName(this.slug, chop.index);
    const file = { name, url: URL.createObjectURL(blob), size: blob.size, start, end, bitDepth };
    this.files.set(key, file);
    return file;
  }

  /** Forget the files of chops no longer shown (their blob: URLs are released). */
  keep(chops, bitDepth) {
    const wanted = new Set(chops.map((chop) => this.key(chop, bitDepth)));
    for (const [key, file] of this.files) {
      if (!wanted.has(key)) {
        URL.revokeObjectURL(file.url);
        this.files.delete(key);
      }
    }
  }

  clear() {
    this.keep([], 0);
  }
}

/** What a DownloadURL drag carries (Chromium: "<type>:<file name>:<URL>"; dropped on a desktop, a DAW or a file
 * manager, it becomes the file). */
export function downloadUrl(file) {
  return `${WAV_TYPE}:${file.name}:${file.url}`;
}
