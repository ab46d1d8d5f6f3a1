/* Onset detection for snapping chop points, run in a worker (onsets-worker.js) on the decoded record.
 *
 * The usual recipe (Bello et al. 2005; librosa's onset_detect): the spectral flux of a log-compressed magnitude
 * spectrogram (1024-point Hann frames every 10 ms), peaks picked against a moving maximum and mean, each onset then
 * moved back to the quietest frame just before it (librosa's onset_backtrack) so that a chop starts before the
 * attack, never inside it.
 */

/** Frames every 10 ms: the precision producers expect of a transient and 100 frames a second to analyse. */
const HOP_S = 0.01;
/** 1024 points at 44.1/48 kHz (21–23 ms): short enough to separate 16th notes at 180 BPM (83 ms). */
const FRAME = 1024;
/** log(1 + 100·|X|): the compression of Böck et al. 2012's "log filtered spectrogram" flux. */
const LOG_GAIN = 100;
/** librosa.onset.onset_detect's peak picking, in 10-ms frames: a peak is the maximum of the 30 ms before it, at
 * least DELTA over the mean of the 100 ms around it, and 30 ms after the previous onset. */
const PRE_MAX = 3;
const POST_MAX = 1;
const PRE_AVG = 10;
const POST_AVG = 10;
const DELTA = 0.07;
const WAIT = 3;
/** Backtracking looks at most 5 frames (50 ms) back for the quietest frame. */
const BACKTRACK_FRAMES = 5;

function fftTables(n) {
  const bits = Math.log2(n);
  const reverse = new Uint32Array(n);
  for (let i = 0; i < n; i += 1) {
    let r = 0;
    for (let b = 0; b < bits; b += 1) r |= ((i >> b) & 1) << (bits - 1 - b);
    reverse[i] = r;
  }
  const cos = new Float64Array(n / 2);
  const sin = new Float64Array(n / 2);
  for (let i = 0; i < n / 2; i += 1) {
    cos[i] = Math.cos((2 * Math.PI * i) / n);
    sin[i] = -Math.sin((2 * Math.PI * i) / n);
  }
  return { reverse, cos, sin };
}

/** In-place iterative radix-2 FFT of (re, im). */
function fft(re, im, tables) {
  const n = re.length;
  const { reverse, cos, sin } = tables;
  for (let i = 0; i < n; i += 1) {
    const j = reverse[i];
    if (j > i) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let size = 2; size <= n; size *= 2) {
    const half = size / 2;
    const step = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k += 1) {
        const wr = cos[k * step];
        const wi = sin[k * step];
        const a = start + k;
        const b = a + half;
        const tr = re[b] * wr - im[b] * wi;
        const ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
    }
  }
}

/** Onset times in seconds (ascending) of a mono signal. */
export function detectOnsets(mono, sampleRate) {
  const hop = Math.max(1, Math.round(sampleRate * HOP_S));
  const frames = Math.floor(mono.length / hop) + 1;
  if (mono.length < FRAME) return new Float64Array(0);
  const bins = FRAME / 2 + 1;
  const tables = fftTables(FRAME);
  const window = new Float64Array(FRAME);
  for (let i = 0; i < FRAME; i += 1) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FRAME);
  const re = new Float64Array(FRAME);
  const im = new Float64Array(FRAME);
  let previous = new Float64Array(bins);
  let current = new Float64Array(bins);
  const flux = new Float64Array(frames);
  const energy = new Float64Array(frames);
  for (let f = 0; f < frames; f += 1) {
    const centre = f * hop;
    let power = 0;
    for (let i = 0; i < FRAME; i += 1) {
      const at = centre - FRAME / 2 + i; // centred frames, zeros outside the record
      const v = at >= 0 && at < mono.length ? mono[at] : 0;
      power += v * v;
      re[i] = v * window[i];
      im[i] = 0;
    }
    energy[f] = power;
    fft(re, im, tables);
    let rise = 0;
    for (let k = 0; k < bins; k += 1) {
      current[k] = Math.log1p(LOG_GAIN * Math.hypot(re[k], im[k]));
      const d = current[k] - previous[k];
      if (d > 0 && f > 0) rise += d;
    }
    flux[f] = rise;
    [previous, current] = [current, previous];
  }
  let top = 0;
  for (const v of flux) top = Math.max(top, v);
  if (top <= 0) return new Float64Array(0);
  for (let f = 0; f < frames; f += 1) flux[f] /= top;

  const onsets = [];
  let last = -Infinity;
  for (let f = 1; f < frames; f += 1) {
    let isMax = true;
    for (let g = Math.max(0, f - PRE_MAX); g <= Math.min(frames - 1, f + POST_MAX); g += 1) {
      if (flux[g] > flux[f]) {
        isMax = false;
        break;
      }
    }
    if (!isMax) continue;
    let sum = 0;
    let count = 0;
    for (let g = Math.max(0, f - PRE_AVG); g <= Math.min(frames - 1, f + POST_AVG); g += 1) {
      sum += flux[g];
      count += 1;
    }
    if (flux[f] < sum / count + DELTA || f - last <= WAIT) continue;
    last = f;
    let quietest = f;
    for (let g = f - 1; g >= Math.max(0, f - BACKTRACK_FRAMES); g -= 1) {
      if (energy[g] <= energy[quietest]) quietest = g;
      else break; // the energy rises again going back: the previous sound
    }
    onsets.push((quietest * hop) / sampleRate);
  }
  return Float64Array.from(new Set(onsets));
}
