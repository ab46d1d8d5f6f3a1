/* Chop points edited by hand: snapping, moving, adding, deleting, undo/redo, and the chops they make.
 * Pure functions and one small class; no DOM, so the rules are easy to read (and to test from the page).
 */

/** Fine nudge: 5 ms, about one analysis frame (5.8 ms) and under the ~10 ms at which a moved attack is heard. */
export const FINE_STEP_S = 0.005;
/** Coarse nudge when the record has no beat grid: 100 ms (a 16th note at 150 BPM). */
export const COARSE_STEP_S = 0.1;
/** Two chop points closer than 10 ms would make a slice too short to hear as a sound. */
export const MIN_GAP_S = 0.01;
/** Onset snapping only moves a point to an onset this close (150 ms, just over a 16th at 100 BPM): further away it
 * would jump to another note instead of tightening this one. */
export const ONSET_SNAP_WINDOW_S = 0.15;
export const SNAP_MODES = ["grid", "onset", "off"];

/** The value of a sorted array nearest to t (null for an empty array). */
export function nearest(sorted, t) {
  if (!sorted || !sorted.length) return null;
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  const after = sorted[lo];
  const before = lo > 0 ? sorted[lo - 1] : after;
  return Math.abs(before - t) <= Math.abs(after - t) ? before : after;
}

/** Where a point dropped at t lands: the nearest beat (grid), the nearest onset within the window (onset), or t. */
export function snapTime(t, mode, { beats = [], onsets = [] } = {}) {
  if (mode === "grid" && beats.length) return nearest(beats, t);
  if (mode === "onset" && onsets.length) {
    const onset = nearest(onsets, t);
    return Math.abs(onset - t) <= ONSET_SNAP_WINDOW_S ? onset : t;
  }
  return t;
}

/** A time on the record's own sample grid, so the points sent are exactly the samples the server cuts at. */
export function onSamples(t, sampleRate) {
  return sampleRate > 0 ? Math.round(t * sampleRate) / sampleRate : t;
}

/** The points as the `points` form field: seconds with 6 decimals (a 44.1-kHz sample is 22.7 µs, so rounding
 * back to samples gives the same sample). */
export function formatPoints(points) {
  return points.map((t) => t.toFixed(6)).join(",");
}

const same = (a, b) => Math.abs(a - b) < 1e-6;

/** The chops the points make. A chop the server made keeps its end, probability and file when its start and the
 * next start are unchanged; an edited one runs to the next point (or the record's end), capped at max_length. */
export function chopsFromPoints(points, doc) {
  const made = doc ? doc.chops : [];
  const duration = doc ? doc.duration : points[points.length - 1] || 0;
  const maxLength = doc?.params?.max_length_s ?? null;
  return points.map((start, i) => {
    const next = i + 1 < points.length ? points[i + 1] : null;
    const j = made.findIndex((chop) => same(chop.start, start));
    const original = j >= 0 ? made[j] : null;
    const nextMade = original && j + 1 < made.length ? made[j + 1].start : null;
    const unchanged = original && (next === null ? nextMade === null : nextMade !== null && same(nextMade, next));
    if (unchanged) return { ...original, index: i + 1, edited: false };
    let end = next === null ? duration : next;
    if (maxLength) end = Math.min(end, start + maxLength);
    return {
      index: i + 1,
      start,
      end,
      probability: original ? original.probability : null,
      score: original ? original.score : null,
      rank: original ? original.rank : null,
      downbeat: original ? original.downbeat : false,
      file: null,
      edited: true,
    };
  });
}

/** The chop points with an undo and a redo history. Every change goes through commit(). */
export class PointEditor {
  constructor(points, duration) {
    this.duration = duration;
    this.points = [...points].sort((a, b) => a - b);
    this.original = [...this.points];
    this.undoStack = [];
    this.redoStack = [];
  }

  get edited() {
    return this.points.length !== this.original.length || this.points.some((t, i) => !same(t, this.original[i]));
  }

  get canUndo() {
    return this.undoStack.length > 0;
  }

  get canRedo() {
    return this.redoStack.length > 0;
  }

  commit(points) {
    this.undoStack.push(this.points);
    this.redoStack = [];
    this.points = points;
  }

  /** The range point i may move in: between its neighbours, inside the record. */
  limits(i) {
    const low = i > 0 ? this.points[i - 1] + MIN_GAP_S : 0;
    const high = i + 1 < this.points.length ? this.points[i + 1] - MIN_GAP_S : this.duration - MIN_GAP_S;
    return [low, high];
  }

  /** Point i at t (clamped between its neighbours); returns the new points without committing. */
  moved(i, t) {
    const [low, high] = this.limits(i);
    const points = [...this.points];
    points[i] = Math.min(high, Math.max(low, t));
    return points;
  }

  move(i, t) {
    const points = this.moved(i, t);
    if (same(points[i], this.points[i])) return false;
    this.commit(points);
    return true;
  }

  /** Add a point at t; returns its index, or -1 when it would sit within MIN_GAP_S of another or outside. */
  add(t) {
    if (!(t >= 0 && t < this.duration - MIN_GAP_S)) return -1;
    if (this.points.some((p) => Math.abs(p - t) < MIN_GAP_S)) return -1;
    const points = [...this.points, t].sort((a, b) => a - b);
    this.commit(points);
    return points.indexOf(t);
  }

  /** Delete point i (the last chop stays: a record always has one). */
  remove(i) {
    if (this.points.length <= 1 || i < 0 || i >= this.points.length) return false;
    this.commit(this.points.filter((_, j) => j !== i));
    return true;
  }

  undo() {
    if (!this.canUndo) return false;
    this.redoStack.push(this.points);
    this.points = this.undoStack.pop();
    return true;
  }

  redo() {
    if (!this.canRedo) return false;
    this.undoStack.push(this.points);
    this.points = this.redoStack.pop();
    return true;
  }

  /** The server sliced at the current points: they become the new original (the history stays). */
  rebase(points) {
    this.points = [...points];
    this.original = [...points];
  }
}
