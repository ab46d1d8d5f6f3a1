/* The waveform view: the record's waveform on a canvas, the beat and bar grid, the chops as regions with labels
 * that never overlap, draggable chop markers, a cursor and a playhead, a time ruler, a bar ruler and an overview of
 * the whole record; zoom and scroll.
 *
 * Everything a test (or a screen reader) needs to check is in the DOM: grid lines carry data-t (seconds), regions
 * data-start/data-end, markers are sliders with aria-valuenow; the canvas only draws the waveform.
 */

/** Zoom limit: 2000 px a second is 22 samples a pixel at 44.1 kHz, enough to place a point on a transient. */
const MAX_PX_PER_S = 2000;
/** Grid lines closer than 6 px blur into a grey band: thin them (beats → bars → every 2nd, 4th… bar). */
const MIN_GRID_PX = 6;
/** Time ruler labels at least 70 px apart, bar numbers at least 26 px apart: they never touch. */
const MIN_TICK_PX = 70;
const MIN_BAR_LABEL_PX = 26;
const TICK_STEPS_S = [0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
/** Label lanes: 18 px each from the top of the waveform; 3 on a tall view, 2 on a short one. */
const LANE_PX = 18;
const LABEL_GAP_PX = 4;
const PEAK_BLOCKS = [64, 1024];

export const COLOURS = [
  "#ff5d5d", "#ffa23a", "#ffd93d", "#7ee06a", "#3fd8c4", "#4fb3ff", "#8c7bff", "#ff6fd0",
  "#ff8a7a", "#ffc27a", "#f2ee8a", "#a9f59a", "#85efe1", "#92d0ff", "#b8adff", "#ffa6e4",
];
export const colour = (index) => COLOURS[(index - 1) % COLOURS.length];

/** Min/max of the mono mix per block of 64 and of 1024 samples, so that a redraw at any zoom reads at most a few
 * thousand values per pixel row instead of every sample. */
export function buildPeaks(mono, sampleRate) {
  const levels = [];
  let peak = 1e-6;
  for (const block of PEAK_BLOCKS) {
    const count = Math.ceil(mono.length / block);
    const mins = new Float32Array(count);
    const maxs = new Float32Array(count);
    const finer = levels[levels.length - 1];
    for (let b = 0; b < count; b += 1) {
      let lo = 0;
      let hi = 0;
      if (finer) {
        const ratio = block / finer.block;
        for (let i = b * ratio; i < Math.min(finer.mins.length, (b + 1) * ratio); i += 1) {
          if (finer.mins[i] < lo) lo = finer.mins[i];
          if (finer.maxs[i] > hi) hi = finer.maxs[i];
        }
      } else {
        for (let i = b * block; i < Math.min(mono.length, (b + 1) * block); i += 1) {
          const v = mono[i];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
      mins[b] = lo;
      maxs[b] = hi;
      peak = Math.max(peak, -lo, hi);
    }
    levels.push({ block, mins, maxs });
  }
  return { mono, sampleRate, levels, peak };
}

function minMax(peaks, from, to) {
  let lo = 0;
  let hi = 0;
  const span = to - from;
  const level = [...peaks.levels].reverse().find((l) => l.block <= span);
  if (!level) {
    for (let i = Math.max(0, Math.floor(from)); i < Math.min(peaks.mono.length, Math.ceil(to)); i += 1) {
      const v = peaks.mono[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  }
  const last = Math.min(level.mins.length, Math.ceil(to / level.block));
  for (let b = Math.max(0, Math.floor(from / level.block)); b < last; b += 1) {
    if (level.mins[b] < lo) lo = level.mins[b];
    if (level.maxs[b] > hi) hi = level.maxs[b];
  }
  return [lo, hi];
}

function drawPeaks(canvas, peaks, start_s, end_s, colourStops) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const middle = height / 2;
  g.fillStyle = "rgba(255,255,255,0.08)";
  g.fillRect(0, Math.floor(middle), width, Math.max(1, Math.round(ratio)));
  if (!peaks) return;
  const perPixel = ((end_s - start_s) * peaks.sampleRate) / width;
  const first = start_s * peaks.sampleRate;
  const scale = (0.92 * middle) / peaks.peak;
  const gradient = g.createLinearGradient(0, 0, 0, height);
  for (const [at, value] of colourStops) gradient.addColorStop(at, value);
  g.fillStyle = gradient;
  for (let x = 0; x < width; x += 1) {
    const [lo, hi] = minMax(peaks, first + x * perPixel, first + (x + 1) * perPixel);
    const top = middle - hi * scale;
    g.fillRect(x, top, 1, Math.max(ratio, middle - lo * scale - top));
  }
}

const WAVE_COLOURS = [
  [0, "#f4f1ea"],
  [0.5, "#bdb8ae"],
  [1, "#f4f1ea"],
];
const OVERVIEW_COLOURS = [
  [0, "#8d9098"],
  [1, "#8d9098"],
];

function node(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

export function formatSeconds(t, duration) {
  if (duration >= 120) {
    const minutes = Math.floor(t / 60);
    return `${minutes}:${(t - minutes * 60).toFixed(t % 1 ? 1 : 0).padStart(2, "0")}`;
  }
  return `${+t.toFixed(2)} s`;
}

export class WaveView {
  /** `el`: {wave, canvas, grid, regions, markers, cursor, playhead, ruler, bars, overview, overviewCanvas,
   * overviewWindow}; `on`: {seek(t), add(t), select(i), drag(i, t, free) → t shown, drop(i, t, free),
   * markerKey(i, event) → handled, viewChanged()} with i 0-based. */
  constructor(el, on) {
    this.el = el;
    this.on = on;
    this.duration = 0;
    this.peaks = null;
    this.beats = [];
    this.downbeats = [];
    this.chops = [];
    this.selected = -1;
    this.start_s = 0;
    this.pxPerS = 0;
    this.fit = true;
    this.cursor_s = 0;
    this.playhead_s = null;
    this.frame = 0;
    this.widths = []; // measured label widths [{full, compact}], null until measured
    this.drag = null;
    this.bindEvents();
  }

  // --- geometry -----------------------------------------------------------------------------------------------

  get width() {
    return this.el.wave.clientWidth || 1;
  }

  get visible_s() {
    return this.pxPerS > 0 ? this.width / this.pxPerS : this.duration;
  }

  get minPxPerS() {
    return this.duration > 0 ? this.width / this.duration : 1;
  }

  x(t) {
    return (t - this.start_s) * this.pxPerS;
  }

  timeAt(clientX) {
    const box = this.el.wave.getBoundingClientRect();
    const t = this.start_s + (clientX - box.left - this.el.wave.clientLeft) / this.pxPerS;
    return Math.min(this.duration, Math.max(0, t));
  }

  clampStart(start_s) {
    return Math.min(Math.max(0, this.duration - this.visible_s), Math.max(0, start_s));
  }

  // --- state from the page ------------------------------------------------------------------------------------

  setRecord(duration, peaks) {
    this.duration = duration;
    this.peaks = peaks;
    this.fit = true;
    this.start_s = 0;
    this.pxPerS = this.minPxPerS;
    this.cursor_s = 0;
    this.playhead_s = null;
    this.overviewDrawn = false;
    this.render();
  }

  setPeaks(peaks) {
    this.peaks = peaks;
    this.overviewDrawn = false;
    this.render();
  }

  setGrid(beats, downbeats) {
    this.beats = beats || [];
    this.downbeats = downbeats || [];
    this.render();
  }

  /** The chops to show (index 1-based, start, end, probability or null, edited) and the selected one (0-based). */
  setChops(chops, selected) {
    const rebuild = chops.length !== this.chops.length;
    this.chops = chops;
    this.selected = selected;
    if (rebuild) this.buildChops();
    this.overviewDrawn = false;
    this.render();
  }

  setSelected(selected) {
    this.selected = selected;
    this.render();
  }

  setCursor(t) {
    this.cursor_s = t;
    this.renderCursor();
  }

  setPlayhead(t) {
    this.playhead_s = t;
    this.renderCursor();
  }

  // --- zoom and scroll ----------------------------------------------------------------------------------------

  zoomTo(pxPerS, anchor_s = this.start_s + this.visible_s / 2, anchorX = null) {
    if (!this.duration) return;
    const px = Math.min(MAX_PX_PER_S, Math.max(this.minPxPerS, pxPerS));
    const x = anchorX === null ? this.x(anchor_s) : anchorX;
    this.pxPerS = px;
    this.fit = px <= this.minPxPerS * 1.0001;
    this.start_s = this.clampStart(anchor_s - x / px);
    this.render();
    this.on.viewChanged?.();
  }

  zoomBy(factor, anchor_s, anchorX) {
    this.zoomTo(this.pxPerS * factor, anchor_s, anchorX);
  }

  zoomToFit() {
    this.zoomTo(this.minPxPerS, 0, 0);
  }

  scrollTo(start_s) {
    this.start_s = this.clampStart(start_s);
    this.render();
    this.on.viewChanged?.();
  }

  scrollBy(fraction) {
    this.scrollTo(this.start_s + fraction * this.visible_s);
  }

  /** Scroll so that t is in view (with a margin), e.g. to follow the playhead or a nudged marker. */
  reveal(t, margin = 0.1) {
    const end = this.start_s + this.visible_s;
    if (t >= this.start_s && t <= end) return;
    this.scrollTo(t - margin * this.visible_s);
  }

  resized() {
    if (this.fit) this.pxPerS = this.minPxPerS;
    else this.pxPerS = Math.max(this.pxPerS, this.minPxPerS);
    this.start_s = this.clampStart(this.start_s);
    this.overviewDrawn = false;
    this.widths = this.widths.map(() => null); // the font may change with the window's width
    this.render();
  }

  // --- DOM ------------------------------------------------------------------------------------------------------

  /** One region (with its label) and one marker per chop; kept while only the chops' times change, so that a
   * marker being dragged or focused stays the same element. */
  buildChops() {
    this.el.regions.replaceChildren();
    this.el.markers.replaceChildren();
    this.widths = [];
    for (let i = 0; i < this.chops.length; i += 1) {
      const region = node("div", "region");
      region.setAttribute("aria-hidden", "true"); // the markers and pads are the accessible controls
      region.draggable = true; // dragged out of the browser it is the chop's WAV file (app.js)
      region.append(node("span", "region-label"));
      this.el.regions.append(region);
      const marker = node("div", "marker");
      marker.setAttribute("role", "slider");
      marker.setAttribute("aria-valuemin", "0");
      marker.setAttribute("aria-orientation", "horizontal");
      marker.append(node("span", "marker-line"), node("span", "marker-handle"));
      this.el.markers.append(marker);
      this.widths.push(null);
    }
  }

  /** The label's text: the chop's number and, when the model placed it, its probability. */
  updateLabel(i, region, chop) {
    const p = chop.probability === null || chop.probability === undefined ? null : chop.probability.toFixed(2);
    const key = `${chop.index}|${p}`;
    if (region.dataset.label === key) return;
    region.dataset.label = key;
    const label = region.firstChild;
    label.replaceChildren(node("b", "", String(chop.index)));
    if (p !== null) label.append(node("span", "region-p", p));
    this.widths[i] = null;
  }

  /** Label widths (full, and the number alone), measured once per text. */
  measureLabels() {
    if (!this.el.wave.offsetParent) return false;
    const regions = this.el.regions.children;
    this.widths.forEach((width, i) => {
      if (width) return;
      const label = regions[i].firstChild;
      label.hidden = false;
      label.classList.remove("compact");
      const full = label.getBoundingClientRect().width;
      const p = label.querySelector(".region-p");
      const compact = p ? full - p.getBoundingClientRect().width - 5 : full;
      this.widths[i] = { full, compact };
    });
    return true;
  }

  /** Place each label in the first lane where it does not touch the one before it: the number and probability,
   * else the number alone, else no label (the region's tooltip and the marker's name still say it). */
  layoutLabels(lanes) {
    const measured = this.measureLabels();
    const width = this.width;
    const laneEnd = new Array(lanes).fill(-Infinity);
    const regions = this.el.regions.children;
    this.chops.forEach((chop, i) => {
      const label = regions[i].firstChild;
      const left = this.x(chop.start);
      const right = this.x(chop.end);
      let placed = false;
      if (right > 0 && left < width && measured) {
        for (const variant of ["full", "compact"]) {
          const w = this.widths[i][variant];
          const lx = Math.min(Math.max(left, 0) + LABEL_GAP_PX, width - w - 2);
          const lane = laneEnd.findIndex((end) => end + LABEL_GAP_PX <= lx);
          if (lane < 0 || lx < left - 1) continue;
          laneEnd[lane] = lx + w;
          label.classList.toggle("compact", variant === "compact");
          label.style.left = `${lx - left}px`;
          label.style.top = `${4 + lane * LANE_PX}px`;
          label.dataset.lane = String(lane);
          placed = true;
          break;
        }
      }
      label.hidden = !placed;
      if (!placed) delete label.dataset.lane;
    });
  }

  render() {
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => this.renderNow());
  }

  renderNow() {
    if (!this.duration) return;
    if (this.pxPerS <= 0 || this.fit) this.pxPerS = this.minPxPerS;
    this.start_s = this.clampStart(this.start_s);
    const end_s = this.start_s + this.visible_s;
    drawPeaks(this.el.canvas, this.peaks, this.start_s, end_s, WAVE_COLOURS);
    this.renderGrid(end_s);
    this.renderChops();
    this.renderRuler(end_s);
    this.renderOverview();
    this.renderCursor();
    this.el.wave.dataset.start = this.start_s.toFixed(6);
    this.el.wave.dataset.pxPerS = this.pxPerS.toFixed(6);
    this.el.wave.dataset.zoom = (this.pxPerS / this.minPxPerS).toFixed(3);
  }

  /** Every beat when beats are at least 6 px apart, else every bar, else every 2nd, 4th… bar. */
  gridStride() {
    if (this.beats.length < 2) return { lines: [], level: "none" };
    const beatPx = ((this.beats[this.beats.length - 1] - this.beats[0]) / (this.beats.length - 1)) * this.pxPerS;
    if (beatPx >= MIN_GRID_PX) return { lines: this.beats, level: "beats" };
    const bars = this.downbeats.length ? this.downbeats : this.beats.filter((_, i) => i % 4 === 0);
    const barPx = bars.length > 1 ? ((bars[bars.length - 1] - bars[0]) / (bars.length - 1)) * this.pxPerS : Infinity;
    let every = 1;
    while (barPx * every < MIN_GRID_PX) every *= 2;
    return { lines: bars.filter((_, i) => i % every === 0), level: every === 1 ? "bars" : `bars/${every}` };
  }

  renderGrid(end_s) {
    const { lines, level } = this.gridStride();
    const downbeats = new Set(this.downbeats);
    const fragment = document.createDocumentFragment();
    for (const t of lines) {
      if (t < this.start_s || t > end_s) continue;
      const line = node("span", downbeats.has(t) ? "gl bar" : "gl");
      line.dataset.t = String(t);
      line.style.left = `${this.x(t)}px`;
      fragment.append(line);
    }
    this.el.grid.replaceChildren(fragment);
    this.el.grid.dataset.level = level;

    // bar numbers above the waveform, thinned so that they never touch
    const bars = document.createDocumentFragment();
    const barPx = this.downbeats.length > 1 ? ((this.downbeats[this.downbeats.length - 1] - this.downbeats[0]) / (this.downbeats.length - 1)) * this.pxPerS : Infinity;
    let every = 1;
    while (barPx * every < MIN_BAR_LABEL_PX) every *= 2;
    this.downbeats.forEach((t, i) => {
      if (i % every !== 0 || t < this.start_s || t > end_s) return;
      const label = node("span", "bar-number", String(i + 1));
      label.style.left = `${this.x(t)}px`;
      bars.append(label);
    });
    this.el.bars.replaceChildren(bars);
  }

  renderChops() {
    const regions = this.el.regions.children;
    const markers = this.el.markers.children;
    const width = this.width;
    this.chops.forEach((chop, i) => {
      const region = regions[i];
      const marker = markers[i];
      const left = this.x(chop.start);
      const right = this.x(chop.end);
      this.updateLabel(i, region, chop);
      region.dataset.index = chop.index;
      region.style.setProperty("--chop", colour(chop.index));
      region.classList.toggle("edited", Boolean(chop.edited));
      marker.dataset.index = chop.index;
      marker.style.setProperty("--chop", colour(chop.index));
      marker.setAttribute("aria-label", `Chop ${chop.index} start`);
      region.dataset.start = String(chop.start);
      region.dataset.end = String(chop.end);
      region.style.left = `${left}px`;
      region.style.width = `${Math.max(0, right - left)}px`;
      region.classList.toggle("selected", i === this.selected);
      const p = chop.probability === null || chop.probability === undefined ? "placed by hand" : `p ${chop.probability.toFixed(2)}`;
      region.title = `Chop ${chop.index}: ${chop.start.toFixed(3)}–${chop.end.toFixed(3)} s, ${p}`;
      marker.title = region.title;
      region.title += " · drag it out as a WAV file";
      marker.style.left = `${left}px`;
      marker.hidden = left < -8 || left > width + 8;
      marker.setAttribute("aria-valuemax", this.duration.toFixed(3));
      marker.setAttribute("aria-valuenow", chop.start.toFixed(6));
      marker.setAttribute("aria-valuetext", `${chop.start.toFixed(3)} s`);
      marker.classList.toggle("selected", i === this.selected);
      // one tab stop for all markers (the selected one, else the first): arrows and [ ] move between them
      marker.tabIndex = i === (this.selected >= 0 ? this.selected : 0) ? 0 : -1;
    });
    this.layoutLabels(this.el.wave.clientHeight >= 170 ? 3 : 2);
  }

  renderRuler(end_s) {
    const step = TICK_STEPS_S.find((s) => s * this.pxPerS >= MIN_TICK_PX) || 600;
    const fragment = document.createDocumentFragment();
    for (let t = Math.ceil(this.start_s / step) * step; t <= end_s + 1e-9; t += step) {
      const x = this.x(t);
      const tick = node("span", "", formatSeconds(t, this.duration));
      tick.style.left = `${x}px`;
      if (x > this.width - 48) tick.classList.add("end");
      fragment.append(tick);
    }
    this.el.ruler.replaceChildren(fragment);
  }

  renderOverview() {
    const canvas = this.el.overviewCanvas;
    if (!this.overviewDrawn) {
      drawPeaks(canvas, this.peaks, 0, this.duration, OVERVIEW_COLOURS);
      const g = canvas.getContext("2d");
      const scale = canvas.width / this.duration;
      for (const chop of this.chops) {
        g.fillStyle = colour(chop.index);
        g.fillRect(Math.round(chop.start * scale), 0, Math.max(1, Math.round(window.devicePixelRatio || 1)), canvas.height);
      }
      this.overviewDrawn = true;
    }
    const box = this.el.overview.clientWidth;
    const left = (this.start_s / this.duration) * box;
    const width = Math.max(8, (this.visible_s / this.duration) * box);
    this.el.overviewWindow.style.left = `${Math.min(left, box - width)}px`;
    this.el.overviewWindow.style.width = `${width}px`;
    this.el.overviewWindow.setAttribute("aria-valuemax", this.duration.toFixed(2));
    this.el.overviewWindow.setAttribute("aria-valuenow", this.start_s.toFixed(2));
    this.el.overviewWindow.setAttribute(
      "aria-valuetext",
      `${formatSeconds(this.start_s, this.duration)} to ${formatSeconds(Math.min(this.duration, this.start_s + this.visible_s), this.duration)}`,
    );
  }

  renderCursor() {
    const place = (element, t) => {
      const x = t === null ? null : this.x(t);
      element.hidden = x === null || x < 0 || x > this.width;
      if (x !== null) element.style.left = `${x}px`;
      element.dataset.t = t === null ? "" : t.toFixed(4);
    };
    place(this.el.cursor, this.cursor_s);
    place(this.el.playhead, this.playhead_s);
  }

  // --- pointer and wheel ----------------------------------------------------------------------------------------

  bindEvents() {
    const { wave, markers, overview } = this.el;
    wave.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || !this.duration) return;
      const marker = event.target.closest(".marker");
      if (marker) {
        const i = Number(marker.dataset.index) - 1;
        event.preventDefault();
        marker.focus({ preventScroll: true });
        marker.setPointerCapture(event.pointerId);
        this.drag = { i, pointerId: event.pointerId, x0: event.clientX, moved: false, t: this.chops[i].start };
        this.on.select(i);
        return;
      }
      this.on.seek(this.timeAt(event.clientX));
    });
    markers.addEventListener("pointermove", (event) => {
      const drag = this.drag;
      if (!drag || event.pointerId !== drag.pointerId) return;
      if (!drag.moved && Math.abs(event.clientX - drag.x0) < 3) return; // a click, not a drag
      drag.moved = true;
      drag.t = this.on.drag(drag.i, this.timeAt(event.clientX), event.altKey);
    });
    const endDrag = (event) => {
      const drag = this.drag;
      if (!drag || event.pointerId !== drag.pointerId) return;
      this.drag = null;
      if (drag.moved) this.on.drop(drag.i, this.timeAt(event.clientX), event.altKey);
    };
    markers.addEventListener("pointerup", endDrag);
    markers.addEventListener("pointercancel", endDrag);
    markers.addEventListener("keydown", (event) => {
      const marker = event.target.closest(".marker");
      if (marker && this.on.markerKey(Number(marker.dataset.index) - 1, event)) event.preventDefault();
    });
    markers.addEventListener("focusin", (event) => {
      const marker = event.target.closest(".marker");
      if (marker && !this.drag) this.on.select(Number(marker.dataset.index) - 1, true);
    });
    wave.addEventListener("dblclick", (event) => {
      if (event.target.closest(".marker") || !this.duration) return;
      this.on.add(this.timeAt(event.clientX));
    });
    wave.addEventListener(
      "wheel",
      (event) => {
        if (!this.duration) return;
        if (event.ctrlKey || event.metaKey) {
          event.preventDefault();
          const box = wave.getBoundingClientRect();
          this.zoomBy(Math.exp(-event.deltaY / 300), this.timeAt(event.clientX), event.clientX - box.left);
        } else if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
          event.preventDefault();
          const delta = Math.abs(event.deltaX) > Math.abs(event.deltaY) ? event.deltaX : event.deltaY;
          this.scrollTo(this.start_s + delta / this.pxPerS);
        }
      },
      { passive: false },
    );

    // the overview: press or drag to move the view there; arrows on its window scroll
    let overviewPointer = null;
    const moveOverview = (clientX) => {
      const box = overview.getBoundingClientRect();
      const t = ((clientX - box.left) / box.width) * this.duration;
      this.scrollTo(t - this.visible_s / 2);
    };
    overview.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || !this.duration) return;
      overviewPointer = event.pointerId;
      overview.setPointerCapture(event.pointerId);
      moveOverview(event.clientX);
    });
    overview.addEventListener("pointermove", (event) => {
      if (event.pointerId === overviewPointer) moveOverview(event.clientX);
    });
    const endOverview = () => {
      overviewPointer = null;
    };
    overview.addEventListener("pointerup", endOverview);
    overview.addEventListener("pointercancel", endOverview);
    this.el.overviewWindow.addEventListener("keydown", (event) => {
      const step = event.shiftKey ? 1 : 0.25;
      const moves = { ArrowLeft: -step, ArrowRight: step, PageUp: -1, PageDown: 1 };
      if (event.key in moves) {
        event.preventDefault();
        this.scrollBy(moves[event.key]);
      } else if (event.key === "Home" || event.key === "End") {
        event.preventDefault();
        this.scrollTo(event.key === "Home" ? 0 : this.duration);
      }
    });
  }
}
