/* sampleChop web page: upload a record to POST /chop, show its chops over the waveform with the beat grid, edit
 * them by hand, play them on pads like a sampler, take the kit away.
 *
 * Why no waveform library (wavesurfer.js 8.0.1, BSD-3, was the candidate; its regions, timeline, minimap and zoom
 * plugins cover part of this page): the service sends a strict Content-Security-Policy (style-src 'self', media-src
 * 'self', no inline anything). wavesurfer renders into a shadow root with an injected <style> element, which needs
 * 'unsafe-inline' or a per-request nonce from the server; its timeline plugin copies style attributes with
 * setAttribute('style'), which the same policy blocks; and it plays a dropped File through a media element from a
 * blob: URL, which media-src 'self' refuses. The pads also need a WebAudio sampler (overlapping voices, gate, loop,
 * choke) that wavesurfer does not have, so the page would run two players over one record; and the editing rules
 * (snap to the server's grid or to onsets, nudge, undo, the exact points the server slices at) have to be written
 * either way. So the page keeps its own canvas and DOM layers: js/view.js, about 500 lines, nothing vendored.
 *
 * Modules: js/api.js (the service), js/edit.js (chop points), js/sampler.js (WebAudio pads), js/view.js (waveform,
 * grid, regions, markers), js/onsets.js (+ worker), js/midi.js, js/chopfile.js and js/wav.js (a chop as a WAV file,
 * made here: its pad's WAV button, the D key, or dragged out by that button or its region).
 *
 * State for tests and automation, in the DOM: body[data-state] idle | uploading | chopping | ready | error;
 * body[data-sounding] the voices sounding ("record" and pad numbers, space-separated); .pad[data-sounding];
 * #result[data-stale] "settings" when the controls changed since the shown chops were made; #result[data-edited];
 * body[data-wav] decoding | ready | unavailable: whether the chops can leave as WAV files yet.
 * window.sampleChop has read-only accessors (points, onsets, voice timing, output level, timings).
 */
import { Capabilities, describeProblem, postChop, sentence } from "./js/api.js";
import { ChopFiles, decodeAtRate, downloadUrl, recordSlug } from "./js/chopfile.js";
import {
  COARSE_STEP_S,
  FINE_STEP_S,
  PointEditor,
  SNAP_MODES,
  chopsFromPoints,
  formatPoints,
  onSamples,
  snapTime,
} from "./js/edit.js";
import { connectMidi, midiAvailable, parseMidi } from "./js/midi.js";
import { PAD_MODES, Sampler } from "./js/sampler.js";
import { WaveView, buildPeaks, colour } from "./js/view.js";

const PAD_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "Q", "W", "E", "R", "T", "Y", "U", "I"];
const PAD_CODES = PAD_KEYS.map((key) => (/\d/.test(key) ? `Digit${key}` : `Key${key}`));
const NUMPAD_CODES = PAD_KEYS.slice(0, 8).map((key) => `Numpad${key}`);
/** Fields that change what the model picks, and fields that only change how the picked chops are cut and packed. */
const CHOP_FIELDS = ["chops", "top_n", "lambda"];
const SLICE_FIELDS = ["mode", "bars", "beats", "bit_depth", "export"];
const EXPORT_NAMES = { zip: "WAV slices", sfz: "SFZ instrument", xpm: "MPC program", midi: "MIDI file" };
/** A click that follows a key press on the same pad within this long is that key's own activation: ignored. */
const KEY_CLICK_WINDOW_MS = 400;

const $ = (id) => document.getElementById(id);
const el = {
  form: $("chop-form"),
  drop: $("drop"),
  file: $("file"),
  fileName: $("file-name"),
  rechop: $("rechop"),
  lambdaValue: $("lambda-value"),
  statusRow: $("status-row"),
  progress: $("progress"),
  status: $("status"),
  alert: $("alert"),
  announce: $("announce"),
  result: $("result"),
  summary: $("summary"),
  facts: $("facts"),
  playAll: $("play-all"),
  slice: $("slice"),
  download: $("download"),
  notice: $("notice"),
  snap: $("snap"),
  add: $("add"),
  remove: $("delete"),
  undo: $("undo"),
  redo: $("redo"),
  choke: $("choke"),
  padModeAll: $("pad-mode-all"),
  pads: $("pads"),
  waveNote: $("wave-note"),
  midi: $("midi"),
  midiStatus: $("midi-status"),
  help: $("help"),
  shortcuts: $("shortcuts"),
  markers: $("markers"),
};
const fields = Object.fromEntries([...CHOP_FIELDS, ...SLICE_FIELDS].map((name) => [name, $(name)]));

const state = {
  caps: new Capabilities({}),
  capsReady: null,
  file: null,
  shown: null, // the file whose waveform is drawn
  doc: null,
  sent: null, // the settings the shown chops were made with
  buffer: null,
  peaks: null,
  decoding: null,
  onsets: [],
  request: null,
  editor: null,
  chops: [],
  selected: -1,
  padModes: [],
  keyPads: new Map(), // key code → pad held by it
  lastKeyPad: { index: 0, at: 0 },
  frame: 0,
  droppedAt: 0,
  timings: [],
  midiNames: null,
  wav: null, // ChopFiles of the shown record at its own rate, once decoded
  wavFile: null, // the file state.wav is (being) made from
};

const sampler = new Sampler(soundingChanged);
const view = new WaveView(
  {
    wave: $("wave"),
    canvas: $("wave-canvas"),
    grid: $("grid"),
    regions: $("regions"),
    markers: el.markers,
    cursor: $("cursor"),
    playhead: $("playhead"),
    ruler: $("ruler"),
    bars: $("bar-ruler"),
    overview: $("overview"),
    overviewCanvas: $("overview-canvas"),
    overviewWindow: $("overview-window"),
  },
  {
    seek: (t) => seek(t),
    add: (t) => addChop(t),
    select: (i) => select(i),
    drag: (i, t, free) => dragChop(i, t, free),
    drop: (i, t, free) => dropChop(i, t, free),
    markerKey: (i, event) => markerKey(i, event),
  },
);

// --- small helpers --------------------------------------------------------------------------------------------

const setState = (name) => {
  document.body.dataset.state = name;
};
const say = (text) => {
  el.announce.textContent = text;
};
const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;
const keyFor = (index) => PAD_KEYS[index - 1] || null;
const padMode = (index) => state.padModes[index - 1] || "one-shot";

function beatStep() {
  const beats = state.doc?.grid?.beats || [];
  if (state.doc?.tempo_bpm) return 60 / state.doc.tempo_bpm;
  if (beats.length > 1) return (beats[beats.length - 1] - beats[0]) / (beats.length - 1);
  return COARSE_STEP_S;
}

// --- messages -------------------------------------------------------------------------------------------------

function fieldError(name, text) {
  const target = $(`${name}-error`);
  if (!target) return false;
  target.textContent = text || "";
  target.hidden = !text;
  const input = name === "file" ? el.file : fields[name];
  if (input) {
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
  return true;
}

function clearErrors() {
  for (const name of ["file", ...CHOP_FIELDS, ...SLICE_FIELDS]) fieldError(name, "");
  el.alert.hidden = true;
  el.alert.replaceChildren();
}

/** Title and sentences in the alert (each sentence its own paragraph), field sentences next to their fields. */
function showProblem({ title, sentences, fields: byField }) {
  const unplaced = [];
  for (const [name, text] of Object.entries(byField)) if (!fieldError(name, text)) unplaced.push(text);
  el.alert.replaceChildren();
  const heading = document.createElement("strong");
  heading.textContent = title;
  el.alert.append(heading);
  const all = [...sentences, ...unplaced];
  if (!all.length) {
    // the sentences are next to their fields; the alert (read out at once) says where to look
    all.push(Object.keys(byField).every((name) => name === "file") ? "See the note under the drop zone." : "See the notes next to the settings.");
  }
  for (const text of all) {
    const p = document.createElement("p");
    p.textContent = text;
    el.alert.append(p);
  }
  el.alert.hidden = false;
  const first = Object.keys(byField)[0];
  if (first && first !== "file" && fields[first]) fields[first].focus();
}

function showProgress(text, fraction) {
  el.statusRow.hidden = false;
  el.status.textContent = text;
  if (fraction === null) el.progress.removeAttribute("value");
  else el.progress.value = fraction;
}

function hideProgress() {
  el.statusRow.hidden = true;
  el.status.textContent = "";
}

// --- settings -------------------------------------------------------------------------------------------------

/** Which optional controls this server supports: the others are disabled and say why (never faked). */
function applyCapabilities(caps) {
  for (const name of SLICE_FIELDS) {
    const input = fields[name];
    const wrapper = input.closest(".field");
    const supported = caps.supports(name);
    input.disabled = !supported;
    const help = $(`${name}-help`);
    if (supported) {
      const choices = caps.choices(name);
      if (choices && input.tagName === "SELECT") {
        for (const option of input.options) option.disabled = !choices.includes(option.value);
      }
      wrapper.removeAttribute("title");
      help.textContent = "";
    } else {
      const why = "This server does not take this setting yet.";
      wrapper.title = why;
      help.textContent = "needs a newer server";
    }
    wrapper.classList.toggle("unsupported", !supported);
  }
  for (const name of ["chops", "top_n", "beats"]) {
    const bounds = caps.bounds(name);
    if (bounds.minimum !== undefined) fields[name].min = String(bounds.minimum);
    if (bounds.maximum !== undefined) fields[name].max = String(bounds.maximum);
  }
  showModeFields();
  updateActions();
}

function showModeFields() {
  const mode = fields.mode.value;
  for (const wrapper of document.querySelectorAll("[data-when-mode]")) {
    wrapper.hidden = wrapper.dataset.whenMode !== mode;
  }
}

/** The values to send: chop fields always, slice fields only where the server takes them (and they apply). */
function settings() {
  const values = {
    chops: fields.chops.value.trim(),
    top_n: fields.top_n.value.trim(),
    lambda: fields.lambda.value,
  };
  for (const name of SLICE_FIELDS) {
    if (!state.caps.supports(name)) continue;
    if (name === "bars" && fields.mode.value !== "bars") continue;
    if (name === "beats" && fields.mode.value !== "beats") continue;
    values[name] = fields[name].value.trim();
  }
  return values;
}

function wholeNumber(name, text) {
  const min = Number(fields[name].min);
  const max = Number(fields[name].max);
  const value = Number(text);
  const label = fields[name].labels[0].textContent.trim();
  if (text === "" || !Number.isInteger(value) || value < min || value > max) {
    return [null, `${label} must be a whole number from ${min} to ${max}.`];
  }
  return [value, null];
}

/** Check the settings here first, so that a slip gets a sentence next to its field without a round trip. */
function validate(values) {
  const errors = {};
  const [chops, chopsError] = wholeNumber("chops", values.chops);
  const [topN, topNError] = wholeNumber("top_n", values.top_n);
  if (chopsError) errors.chops = chopsError;
  if (topNError) errors.top_n = topNError;
  if (chops !== null && topN !== null && topN < chops) {
    errors.top_n = `N must be at least the number of chops (${chops}): the model picks the chops among N candidates.`;
  }
  if ("beats" in values) {
    const [, beatsError] = wholeNumber("beats", values.beats);
    if (beatsError) errors.beats = beatsError;
  }
  return errors;
}

function settingsKey(values) {
  return JSON.stringify(Object.fromEntries(Object.entries(values).sort()));
}

function sliceKey(values) {
  return settingsKey(Object.fromEntries(Object.entries(values).filter(([name]) => SLICE_FIELDS.includes(name))));
}

// --- chopping -------------------------------------------------------------------------------------------------

/** Ask the service for chops: by the model (points null) or exactly at `points`. Resolves true on success. */
async function chop({ points = null } = {}) {
  if (!state.file) return false;
  await state.capsReady;
  clearErrors();
  const values = settings();
  const errors = points ? {} : validate(values);
  if (Object.keys(errors).length) {
    showProblem({ title: "Some settings need a change", sentences: [], fields: errors });
    return false;
  }
  if (state.request) state.request.abort();
  const form = new FormData();
  for (const [name, value] of Object.entries(values)) {
    if (points && CHOP_FIELDS.includes(name)) continue; // the points replace the model's choice
    form.append(name, value);
  }
  if (points) {
    form.append("points", formatPoints(points));
    if (state.caps.supports("snap")) form.append("snap", "off"); // snapping happened here, where it was seen
  }
  form.append("format", "json");
  form.append("file", state.file, state.file.name || "record");

  setState("uploading");
  el.result.setAttribute("aria-busy", "true");
  el.rechop.disabled = true;
  showProgress("Uploading 0 %", 0);
  const file = state.file;
  const request = postChop(form, {
    onProgress: (fraction) => showProgress(`Uploading ${Math.round(fraction * 100)} %`, fraction),
    onUploaded: () => {
      if (state.request !== request) return;
      setState("chopping");
      showProgress(points ? "Slicing…" : "Chopping…", null);
    },
  });
  state.request = request;
  const answer = await request.promise;
  if (state.request !== request || state.file !== file) return false; // replaced by a newer request
  state.request = null;
  hideProgress();
  el.result.removeAttribute("aria-busy");
  el.rechop.disabled = false;
  if (answer.status >= 200 && answer.status < 300 && answer.body && Array.isArray(answer.body.chops)) {
    await showResult(answer.body, values, Boolean(points));
    return true;
  }
  if (answer.status === -1) return false;
  setState("error");
  showProblem(describeProblem(answer.status, answer.body, state.caps, answer.retryAfter));
  return false;
}

function takeFile(file) {
  if (!file) return;
  state.droppedAt = performance.now();
  say("");
  sampler.stopAll();
  state.file = file;
  state.doc = null;
  state.buffer = null;
  state.peaks = null;
  state.onsets = [];
  state.editor = null;
  state.wav?.clear();
  state.wav = null;
  state.wavFile = null;
  delete document.body.dataset.wav;
  el.result.hidden = true;
  el.fileName.textContent = `${file.name} · ${(file.size / 1e6).toFixed(2)} MB`;
  el.rechop.disabled = false;
  el.rechop.textContent = "Chop again";
  state.decoding = decode(file);
  chop();
}

async function decode(file) {
  const context = sampler.audio();
  if (!context) return null;
  try {
    return await context.decodeAudioData(await file.arrayBuffer());
  } catch {
    return null; // the browser cannot decode it; the service may still chop it
  }
}

function monoOf(buffer) {
  const mono = new Float32Array(buffer.length);
  const count = buffer.numberOfChannels;
  for (let c = 0; c < count; c += 1) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < data.length; i += 1) mono[i] += data[i] / count;
  }
  return mono;
}

function findOnsets(mono, sampleRate, file) {
  let worker;
  try {
    worker = new Worker(new URL("./js/onsets-worker.js", import.meta.url), { type: "module" });
  } catch {
    return;
  }
  worker.addEventListener("message", (event) => {
    worker.terminate();
    if (state.file !== file) return;
    state.onsets = Array.from(event.data.onsets);
    document.body.dataset.onsets = String(state.onsets.length);
  });
  worker.addEventListener("error", () => worker.terminate());
  const copy = mono.slice();
  worker.postMessage({ mono: copy, sampleRate }, [copy.buffer]);
}

async function showResult(doc, values, fromPoints) {
  const file = state.file;
  const newRecord = state.shown !== file;
  const buffer = await state.decoding;
  if (state.file !== file) return;
  state.shown = file;
  state.doc = doc;
  state.sent = values;
  state.buffer = buffer;
  if (newRecord) {
    sampler.setBuffer(buffer);
    let mono = null;
    if (buffer) {
      mono = monoOf(buffer);
      state.peaks = buildPeaks(mono, buffer.sampleRate);
    }
    el.result.hidden = false;
    view.setRecord(doc.duration, state.peaks);
    if (mono) findOnsets(mono, buffer.sampleRate, file);
  }
  el.result.hidden = false;
  const starts = doc.chops.map((c) => c.start);
  if (fromPoints && state.editor) state.editor.rebase(starts);
  else {
    state.editor = new PointEditor(starts, doc.duration);
    state.selected = -1;
  }
  state.padModes = starts.map((_, i) => state.padModes[i] || "one-shot");
  view.setGrid(doc.grid?.beats || [], doc.grid?.downbeats || []);
  el.waveNote.hidden = Boolean(buffer);
  el.waveNote.textContent = buffer ? "" : "This browser cannot decode the record, so it cannot draw or play it here.";
  el.playAll.disabled = !buffer;
  describeRecord(doc, file);
  const name = `${doc.slug || recordSlug(file.name)}.zip`;
  el.download.href = doc.zip_url;
  el.download.setAttribute("download", name);
  refreshChops();
  updateNotice();
  prepareWav(file, doc);
  setState("ready");
  const count = doc.chops.length;
  const keys = count > 8 ? `1 to 8 and Q to ${PAD_KEYS[Math.min(count, 16) - 1]}` : `1 to ${count}`;
  say(`${plural(count, "chop")} ready. Keys ${keys} play them.`);
  if (newRecord && window.matchMedia("(max-width: 700px)").matches) {
    el.result.scrollIntoView({ block: "start" }); // on a phone the pads would sit below the fold
  }
  // the time from the drop to chops on screen: the next frame after the view has drawn them
  const droppedAt = state.droppedAt;
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      if (newRecord && droppedAt) {
        state.timings.push(performance.now() - droppedAt);
        document.body.dataset.dropToChopsMs = String(Math.round(performance.now() - droppedAt));
      }
    }),
  );
}

function describeRecord(doc, file) {
  const channels = doc.channels === 1 ? "mono" : doc.channels === 2 ? "stereo" : `${doc.channels} channels`;
  el.summary.textContent = [
    file.name,
    `${doc.duration.toFixed(2)} s`,
    `${(doc.sample_rate / 1000).toFixed(1)} kHz`,
    channels,
    `${plural(doc.chops.length, "chop")} of ${doc.candidates} candidates`,
  ].join(" · ");
  const facts = [];
  facts.push(doc.tempo_bpm ? `${doc.tempo_bpm.toFixed(1)} BPM` : "tempo unknown");
  facts.push(doc.beats_per_bar ? `${doc.beats_per_bar} beats a bar` : "metre unknown");
  if (doc.key) {
    const key = doc.key;
    const text =
      typeof key === "string"
        ? key
        : [key.tonic, key.mode].filter(Boolean).join(" ") +
          (typeof key.confidence === "number" ? ` (confidence ${key.confidence.toFixed(2)})` : "");
    if (text.trim()) facts.push(`key ${text}`);
  }
  const beats = doc.grid?.beats?.length || 0;
  const bars = doc.grid?.downbeats?.length || 0;
  if (beats) facts.push(`${plural(beats, "beat")}, ${plural(bars, "bar")} on the grid`);
  el.facts.replaceChildren();
  for (const fact of facts) {
    const span = document.createElement("span");
    span.textContent = fact;
    el.facts.append(span);
  }
}

// --- chops and pads -------------------------------------------------------------------------------------------

function refreshChops() {
  if (!state.doc || !state.editor) return;
  state.chops = chopsFromPoints(state.editor.points, state.doc);
  if (state.selected >= state.chops.length) state.selected = state.chops.length - 1;
  while (state.padModes.length < state.chops.length) state.padModes.push(el.padModeAll.value || "one-shot");
  view.setChops(state.chops, state.selected);
  state.wav?.keep(state.chops, wavBitDepth()); // release the files of chops that changed
  renderPads();
  updateActions();
  updateNotice();
}

function renderPads() {
  const focused = document.activeElement?.closest?.(".pad-cell");
  const focusedIndex = focused ? Number(focused.dataset.index) : 0;
  const focusedPart = ["pad-mode", "pad-wav"].find((name) => document.activeElement?.classList.contains(name)) || "pad";
  const fragment = document.createDocumentFragment();
  for (const chop of state.chops) {
    const cell = document.createElement("div");
    cell.className = "pad-cell";
    cell.dataset.index = chop.index;
    cell.style.setProperty("--chop", colour(chop.index));
    const pad = document.createElement("button");
    pad.type = "button";
    pad.className = "pad";
    pad.dataset.index = chop.index;
    pad.disabled = !state.buffer;
    pad.draggable = false;
    const key = keyFor(chop.index);
    if (key) pad.setAttribute("aria-keyshortcuts", key);
    // The accessible name is the visible text with a few hidden words around it ("Pad 3, key 3, from 7.08 s, 5.06 s
    // long, p 0.64"): each part is a grid item, and browsers put a space between those.
    const hidden = (text) => {
      const span = document.createElement("span");
      span.className = "visually-hidden";
      span.textContent = text;
      return span;
    };
    // a comma that is read but not seen: inline (an absolutely positioned span would get a space before it)
    const separator = (text) => {
      const span = document.createElement("span");
      span.className = "separator";
      span.textContent = text;
      return span;
    };
    const part = (tag, className, before, text, after) => {
      const element = document.createElement(tag);
      element.className = className;
      if (before) element.append(hidden(before));
      element.append(document.createTextNode(text));
      if (after) element.append(separator(after));
      return element;
    };
    const probability = chop.probability === null || chop.probability === undefined ? "by hand" : `p ${chop.probability.toFixed(2)}`;
    const meter = document.createElement("span");
    meter.className = "pad-meter";
    meter.style.setProperty("--p", chop.probability ?? 0);
    pad.append(
      part("span", "pad-number", "Pad ", String(chop.index), ","),
      key ? part("kbd", "pad-key", "key ", key, ",") : "",
      part("span", "pad-time", "from ", `${chop.start.toFixed(2)} s`, ","),
      part("span", "pad-length", "", `${(chop.end - chop.start).toFixed(2)} s long`, ","),
      part("span", "pad-p", "", probability, ""),
      meter,
    );
    const mode = document.createElement("button");
    mode.type = "button";
    mode.className = "pad-mode";
    mode.dataset.index = chop.index;
    mode.dataset.mode = padMode(chop.index);
    mode.append(hidden(`Pad ${chop.index} mode: `), document.createTextNode(padMode(chop.index)));
    // the chop as a WAV file: a click (or Enter) saves it, a drag takes it out of the browser
    const wav = document.createElement("button");
    wav.type = "button";
    wav.className = "pad-wav";
    wav.dataset.index = chop.index;
    wav.draggable = true;
    wav.append(hidden(`Save chop ${chop.index} as a `), document.createTextNode("WAV"), hidden(" file"));
    const tools = document.createElement("div");
    tools.className = "pad-tools";
    tools.append(mode, wav);
    cell.append(pad, tools);
    if (sampler.isSounding(chop.index)) {
      pad.dataset.sounding = "true";
    }
    if (chop.index - 1 === state.selected) cell.classList.add("selected");
    fragment.append(cell);
  }
  el.pads.replaceChildren(fragment);
  updateWavButtons();
  if (focusedIndex) {
    const again = el.pads.querySelector(`.pad-cell[data-index="${focusedIndex}"] .${focusedPart}`);
    if (again) again.focus();
  }
}

// --- a chop as a WAV file -------------------------------------------------------------------------------------

function wavBitDepth() {
  return fields.bit_depth.value === "24" ? 24 : 16;
}

function setWavState(name) {
  document.body.dataset.wav = name;
  updateWavButtons();
}

/** The WAV buttons can be used once the record is decoded at its own rate; they say why not until then. */
function updateWavButtons() {
  const ready = Boolean(state.wav);
  const why =
    document.body.dataset.wav === "unavailable"
      ? "This browser cannot decode the record at its own sample rate, so the chops cannot leave as WAV files here."
      : "Preparing the WAV files…";
  for (const button of el.pads.querySelectorAll(".pad-wav")) {
    button.disabled = !ready;
    button.title = ready ? "Save this chop as a WAV file (D), or drag it out of the browser" : why;
  }
}

/** Decode the record again at its own sample rate (the sampler's AudioContext runs at the device's rate, so its
 * copy may be resampled; it is reused when the rates agree). In the background: the chops are already on screen. */
async function prepareWav(file, doc) {
  if (state.wavFile === file) return; // made, or being made, from this very file (a re-chop keeps it)
  state.wav?.clear();
  state.wav = null;
  state.wavFile = file;
  setWavState("decoding");
  let buffer = state.buffer;
  if (!buffer || buffer.sampleRate !== doc.sample_rate) {
    try {
      buffer = await decodeAtRate(await file.arrayBuffer(), doc.sample_rate);
    } catch {
      buffer = null;
    }
  }
  if (state.wavFile !== file) return; // another record was dropped meanwhile
  if (!buffer || buffer.sampleRate !== doc.sample_rate || buffer.numberOfChannels !== doc.channels) {
    setWavState("unavailable");
    return;
  }
  state.wav = new ChopFiles(buffer, doc.slug || recordSlug(file.name));
  setWavState("ready");
}

/** Chop `index` (1-based) as a WAV file ({name, url, …}), encoded on first use; null when it cannot be made. */
function chopWav(index) {
  const chop = state.chops[index - 1];
  if (!chop || !state.wav) return null;
  return state.wav.file(chop, wavBitDepth());
}

function wavUnavailable() {
  const unavailable = document.body.dataset.wav === "unavailable";
  say(unavailable ? "The chops cannot leave as WAV files in this browser." : "The WAV files are still being prepared.");
}

/** Save chop `index` as a WAV file: a download named after the record (<slug>_NN.wav). */
function saveChop(index) {
  if (index < 1 || index > state.chops.length) {
    say("Select a chop first: click it or play its pad.");
    return;
  }
  const file = chopWav(index);
  if (!file) {
    wavUnavailable();
    return;
  }
  const link = document.createElement("a");
  link.href = file.url; // a blob: URL; downloads are not fetches, so the page's CSP needs no exception
  link.download = file.name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  say(`Saved ${file.name}.`);
}

/** A drag of chop `index` out of the browser: Chromium saves a DownloadURL where it is dropped (desktop, DAW). */
function dragChopOut(event, index, image) {
  const file = chopWav(index);
  if (!file || !event.dataTransfer) {
    event.preventDefault();
    wavUnavailable();
    return;
  }
  event.dataTransfer.effectAllowed = "copy";
  event.dataTransfer.setData("DownloadURL", downloadUrl(file));
  if (image) event.dataTransfer.setDragImage(image, 0, 0);
  say(`Drop ${file.name} where it should go.`);
}

function updatePadSelection() {
  for (const cell of el.pads.children) cell.classList.toggle("selected", Number(cell.dataset.index) - 1 === state.selected);
}

function select(i) {
  state.selected = i;
  view.setSelected(i);
  updatePadSelection();
  updateActions();
}

function focusMarker(i) {
  requestAnimationFrame(() => {
    const marker = el.markers.children[i];
    if (marker) {
      marker.hidden = false;
      marker.focus({ preventScroll: true });
    }
  });
}

// --- playing --------------------------------------------------------------------------------------------------

function pressPad(index, velocity = 1, { asOneShot = false } = {}) {
  const chop = state.chops[index - 1];
  if (!chop || !state.buffer) return;
  let mode = padMode(index);
  if (asOneShot && mode === "gate") mode = "one-shot"; // an activation with no release (screen reader, Enter)
  if (mode === "loop" && sampler.isSounding(index)) {
    sampler.stop(index); // a loop pad latches: pressing it again stops it
    return;
  }
  sampler.play(index, chop.start, chop.end, mode, velocity);
  select(index - 1);
}

function releasePad(index) {
  sampler.release(index);
}

function toggleRecord() {
  if (!state.buffer || !state.doc) return;
  if (sampler.isSounding("record")) {
    const at = sampler.position("record");
    sampler.stop("record");
    seek(at ?? view.cursor_s);
  } else {
    const from = view.cursor_s >= state.doc.duration - 0.01 ? 0 : view.cursor_s;
    sampler.play("record", from, state.buffer.duration, "one-shot");
  }
}

function seek(t) {
  view.setCursor(t);
  const i = state.chops.findIndex((chop) => t >= chop.start && t < chop.end);
  if (i >= 0) select(i);
  if (sampler.isSounding("record")) sampler.play("record", t, state.buffer.duration, "one-shot");
}

function soundingChanged() {
  const sounding = sampler.sounding();
  const set = new Set(sounding.map(String));
  document.body.dataset.sounding = sounding.join(" ");
  for (const cell of el.pads.children) {
    const pad = cell.querySelector(".pad");
    if (set.has(cell.dataset.index)) pad.dataset.sounding = "true";
    else delete pad.dataset.sounding;
  }
  for (const region of document.querySelectorAll("#regions .region")) {
    region.classList.toggle("sounding", set.has(region.dataset.index));
  }
  const playing = set.has("record");
  el.playAll.setAttribute("aria-pressed", String(playing));
  el.playAll.querySelector(".play-text").textContent = playing ? "Pause" : "Play";
  if (sounding.length) animate();
}

function animate() {
  cancelAnimationFrame(state.frame);
  const tick = () => {
    const sounding = sampler.sounding();
    if (!sounding.length) {
      view.setPlayhead(null);
      return;
    }
    const id = sounding.includes("record") ? "record" : sounding[sounding.length - 1];
    const position = sampler.position(id);
    view.setPlayhead(position);
    if (id === "record" && position !== null) {
      const end = view.start_s + view.visible_s;
      if (position > end || position < view.start_s) view.scrollTo(position);
    }
    state.frame = requestAnimationFrame(tick);
  };
  tick();
}

// --- editing --------------------------------------------------------------------------------------------------

function snapped(t, free) {
  const mode = free ? "off" : el.snap.value;
  const sampleRate = state.doc?.sample_rate || 0;
  return onSamples(snapTime(t, mode, { beats: state.doc?.grid?.beats || [], onsets: state.onsets }), sampleRate);
}

function dragChop(i, t, free) {
  const points = state.editor.moved(i, snapped(t, free));
  const preview = chopsFromPoints(points, state.doc);
  view.setChops(preview, i);
  return points[i];
}

function dropChop(i, t, free) {
  const moved = state.editor.move(i, snapped(t, free));
  refreshChops();
  if (moved) say(`Chop ${i + 1} moved to ${state.editor.points[i].toFixed(3)} s.`);
  focusMarker(i);
}

function nudge(i, delta_s) {
  if (!state.editor || i < 0) return;
  const sampleRate = state.doc?.sample_rate || 0;
  if (state.editor.move(i, onSamples(state.editor.points[i] + delta_s, sampleRate))) {
    refreshChops();
    view.reveal(state.editor.points[i]);
    say(`Chop ${i + 1} at ${state.editor.points[i].toFixed(3)} s.`);
  }
}

function addChop(t) {
  if (!state.editor) return;
  const i = state.editor.add(snapped(t, false));
  if (i < 0) {
    say("A chop is already there.");
    return;
  }
  state.selected = i;
  state.padModes.splice(i, 0, el.padModeAll.value || "one-shot");
  refreshChops();
  view.reveal(state.editor.points[i]);
  say(`Chop ${i + 1} added at ${state.editor.points[i].toFixed(3)} s.`);
}

function removeChop(i) {
  if (!state.editor || i < 0) return;
  const markerFocused = document.activeElement?.classList.contains("marker");
  if (!state.editor.remove(i)) {
    say("The last chop stays.");
    return;
  }
  sampler.stop(i + 1);
  state.padModes.splice(i, 1);
  state.selected = Math.min(i, state.editor.points.length - 1);
  refreshChops();
  say(`Chop ${i + 1} deleted.`);
  if (markerFocused) focusMarker(state.selected);
}

function undoRedo(redo) {
  if (!state.editor) return;
  const done = redo ? state.editor.redo() : state.editor.undo();
  if (!done) return;
  sampler.stopPads();
  refreshChops();
  say(redo ? "Redone." : "Undone.");
}

function markerKey(i, event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return false;
  const coarse = event.shiftKey || event.key === "PageUp" || event.key === "PageDown";
  const step = coarse ? beatStep() : FINE_STEP_S;
  switch (event.key) {
    case "ArrowLeft":
    case "ArrowDown":
    case "PageDown":
      nudge(i, -step);
      focusMarker(i);
      return true;
    case "ArrowRight":
    case "ArrowUp":
    case "PageUp":
      nudge(i, step);
      focusMarker(i);
      return true;
    case "Home":
    case "End": {
      const j = event.key === "Home" ? 0 : state.chops.length - 1;
      select(j);
      view.reveal(state.chops[j].start);
      focusMarker(j);
      return true;
    }
    case " ":
    case "Enter":
      if (!event.repeat) pressPad(i + 1, 1, { asOneShot: true });
      return true;
    default:
      return false;
  }
}

function selectStep(direction) {
  if (!state.chops.length) return;
  const j = Math.max(0, Math.min(state.chops.length - 1, (state.selected < 0 ? -1 : state.selected) + direction));
  select(j);
  view.reveal(state.chops[j].start);
  if (document.activeElement?.classList.contains("marker")) focusMarker(j);
}

// --- actions and notices --------------------------------------------------------------------------------------

function pendingSlice() {
  if (!state.doc || !state.editor) return false;
  return state.editor.edited || sliceKey(settings()) !== sliceKey(state.sent || {});
}

function updateActions() {
  const editor = state.editor;
  el.undo.disabled = !editor?.canUndo;
  el.redo.disabled = !editor?.canRedo;
  el.remove.disabled = !editor || state.selected < 0 || editor.points.length <= 1;
  el.add.disabled = !editor;
  const supportsPoints = state.caps.supports("points");
  const edited = Boolean(editor?.edited);
  el.slice.hidden = !edited;
  el.slice.disabled = !supportsPoints;
  el.slice.title = supportsPoints
    ? "Cut the slices and the export at the points shown"
    : "This server cannot slice at hand-placed points yet";
  const exportName = state.caps.supports("export") ? EXPORT_NAMES[fields.export.value] || "zip" : "zip";
  el.download.textContent = exportName === "zip" || exportName === "WAV slices" ? "Download zip" : `Download ${exportName}`;
}

function updateNotice() {
  if (!state.doc) {
    el.notice.hidden = true;
    return;
  }
  const messages = [];
  const stale = settingsKey(settings()) !== settingsKey(state.sent || {});
  if (stale) messages.push("Settings changed since these chops were made: chop again to apply them.");
  const editor = state.editor;
  if (editor?.edited) {
    const differ = Math.abs(editor.points.length - editor.original.length) +
      editor.points.filter((t) => !editor.original.some((o) => Math.abs(o - t) < 1e-6)).length;
    const edits = `${plural(Math.max(1, differ), "chop point")} changed by hand.`;
    messages.push(
      state.caps.supports("points")
        ? `${edits} The pads play them now; Download slices at these points.`
        : `${edits} The pads play them now, but this server cannot slice at hand-placed points yet: the download holds the chops as the model placed them.`,
    );
  }
  if (stale) el.result.dataset.stale = "settings";
  else delete el.result.dataset.stale;
  if (editor?.edited) el.result.dataset.edited = "true";
  else delete el.result.dataset.edited;
  el.rechop.classList.toggle("attention", stale);
  el.notice.textContent = messages.join(" ");
  el.notice.hidden = !messages.length;
}

async function download(event) {
  if (!state.doc) return;
  if (el.download.dataset.ready === "true") {
    delete el.download.dataset.ready; // the second, real click after slicing
    return;
  }
  if (!pendingSlice() || !state.caps.supports("points")) return; // the zip as chopped is what is shown
  event.preventDefault();
  if (await chop({ points: state.editor.points })) {
    el.download.dataset.ready = "true";
    el.download.click();
  }
}

// --- keyboard -------------------------------------------------------------------------------------------------

const TEXT_TYPES = new Set(["text", "number", "search", "email", "url", "tel", "password", ""]);

/** A field that takes typed characters: shortcuts never fire there (Escape leaves it). */
function isTextField(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA") return true;
  return target.tagName === "INPUT" && TEXT_TYPES.has(target.type);
}

/** Keys a focused control uses itself: Space and Enter on buttons, links and checkboxes, everything on a select,
 * arrows and paging on a range slider. */
function ownsKey(target, event) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.tagName === "SELECT") return true;
  if (target.tagName === "INPUT" && target.type === "range") {
    return /^(Arrow|Page|Home|End)/.test(event.key);
  }
  const activates = event.key === " " || event.key === "Enter";
  if (activates && target.matches("button, a[href], input, summary, [role=button]")) return true;
  return false;
}

function padFromCode(code) {
  let slot = PAD_CODES.indexOf(code);
  if (slot < 0) slot = NUMPAD_CODES.indexOf(code);
  return slot < 0 ? 0 : slot + 1;
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || el.shortcuts.open) return;
  const target = event.target;
  if (isTextField(target)) {
    if (event.key === "Escape") {
      event.preventDefault();
      target.blur();
    }
    return;
  }
  if (event.key === "?" && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    el.shortcuts.showModal();
    return;
  }
  if (ownsKey(target, event)) return;
  if ((event.ctrlKey || event.metaKey) && !event.altKey) {
    const key = event.key.toLowerCase();
    if (key === "z" || key === "y") {
      event.preventDefault();
      undoRedo(key === "y" || event.shiftKey);
    }
    return; // every other Ctrl/⌘ combination is the browser's
  }
  if (event.altKey || !state.doc || el.result.hidden) return;

  const pad = padFromCode(event.code);
  if (pad) {
    event.preventDefault();
    if (event.repeat || pad > state.chops.length) return;
    state.keyPads.set(event.code, pad);
    pressPad(pad);
    return;
  }
  const handled = {
    " ": () => !event.repeat && toggleRecord(),
    Escape: () => sampler.stopAll(),
    a: () => addChop(sampler.isSounding("record") ? sampler.position("record") : view.cursor_s),
    Delete: () => removeChop(state.selected),
    Backspace: () => removeChop(state.selected),
    ArrowLeft: () => nudge(state.selected, -(event.shiftKey ? beatStep() : FINE_STEP_S)),
    ArrowRight: () => nudge(state.selected, event.shiftKey ? beatStep() : FINE_STEP_S),
    "[": () => selectStep(-1),
    "]": () => selectStep(1),
    s: () => {
      el.snap.value = SNAP_MODES[(SNAP_MODES.indexOf(el.snap.value) + 1) % SNAP_MODES.length];
      say(`Snap ${el.snap.options[el.snap.selectedIndex].text}.`);
    },
    c: () => el.choke.click(),
    d: () => saveChop(state.selected + 1),
    m: () => state.selected >= 0 && cycleMode(state.selected + 1),
    "+": () => view.zoomBy(2),
    "=": () => view.zoomBy(2),
    "-": () => view.zoomBy(0.5),
    0: () => view.zoomToFit(),
    ",": () => view.scrollBy(-0.5),
    ".": () => view.scrollBy(0.5),
  }[event.key.length === 1 ? event.key.toLowerCase() : event.key];
  if (!handled) return;
  if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && state.selected < 0) return;
  event.preventDefault();
  handled();
});

document.addEventListener("keyup", (event) => {
  const pad = state.keyPads.get(event.code);
  if (pad) {
    state.keyPads.delete(event.code);
    releasePad(pad);
  }
});
window.addEventListener("blur", () => {
  for (const pad of state.keyPads.values()) releasePad(pad); // a key released in another window
  state.keyPads.clear();
});

// --- pads: pointer, keys on a focused pad, mode buttons -------------------------------------------------------

function cycleMode(index) {
  const next = PAD_MODES[(PAD_MODES.indexOf(padMode(index)) + 1) % PAD_MODES.length];
  state.padModes[index - 1] = next;
  if (next !== "loop" && sampler.isSounding(index)) sampler.stop(index);
  const button = el.pads.querySelector(`.pad-mode[data-index="${index}"]`);
  if (button) {
    button.dataset.mode = next;
    button.lastChild.textContent = next;
  }
  say(`Pad ${index}: ${next}.`);
}

el.pads.addEventListener("pointerdown", (event) => {
  const pad = event.target.closest(".pad");
  if (!pad || pad.disabled || event.button !== 0) return;
  pad.setPointerCapture(event.pointerId);
  pressPad(Number(pad.dataset.index));
});
for (const type of ["pointerup", "pointercancel"]) {
  el.pads.addEventListener(type, (event) => {
    const pad = event.target.closest(".pad");
    if (pad) releasePad(Number(pad.dataset.index));
  });
}
el.pads.addEventListener("keydown", (event) => {
  const pad = event.target.closest(".pad");
  if (!pad || (event.key !== " " && event.key !== "Enter")) return;
  event.preventDefault(); // Space on a focused pad plays the pad, not the record
  event.stopPropagation();
  const index = Number(pad.dataset.index);
  state.lastKeyPad = { index, at: performance.now() };
  if (!event.repeat) pressPad(index);
});
el.pads.addEventListener("keyup", (event) => {
  const pad = event.target.closest(".pad");
  if (!pad || (event.key !== " " && event.key !== "Enter")) return;
  event.preventDefault();
  state.lastKeyPad = { index: Number(pad.dataset.index), at: performance.now() };
  releasePad(Number(pad.dataset.index));
});
el.pads.addEventListener("click", (event) => {
  const mode = event.target.closest(".pad-mode");
  if (mode) {
    cycleMode(Number(mode.dataset.index));
    return;
  }
  const wav = event.target.closest(".pad-wav");
  if (wav) {
    saveChop(Number(wav.dataset.index));
    return;
  }
  const pad = event.target.closest(".pad");
  if (!pad || event.detail !== 0) return; // pointer clicks were played on pointerdown
  const index = Number(pad.dataset.index);
  const keyed = state.lastKeyPad.index === index && performance.now() - state.lastKeyPad.at < KEY_CLICK_WINDOW_MS;
  if (!keyed) pressPad(index, 1, { asOneShot: true }); // activated by assistive technology
});

el.pads.addEventListener("dragstart", (event) => {
  const wav = event.target.closest?.(".pad-wav");
  if (wav) dragChopOut(event, Number(wav.dataset.index), null);
  else event.preventDefault(); // nothing else on a pad is dragged
});
$("regions").addEventListener("dragstart", (event) => {
  const region = event.target.closest?.(".region");
  if (!region) return;
  const label = region.querySelector(".region-label");
  dragChopOut(event, Number(region.dataset.index), label && !label.hidden ? label : null);
});

// --- the rest of the controls ---------------------------------------------------------------------------------

el.file.addEventListener("change", () => takeFile(el.file.files && el.file.files[0]));
el.form.addEventListener("submit", (event) => {
  event.preventDefault();
  // Enter in a field chops and leaves the field, so that the next keys play pads instead of typing
  if (isTextField(document.activeElement)) document.activeElement.blur();
  chop(); // a new model result replaces the hand edits

});
el.form.addEventListener("input", (event) => {
  if (event.target === fields.lambda) el.lambdaValue.textContent = Number(fields.lambda.value).toFixed(3);
  if (event.target === fields.mode) showModeFields();
  const name = event.target.name;
  if (name) fieldError(name, "");
  if (event.target === fields.bit_depth) state.wav?.keep(state.chops, wavBitDepth());
  updateNotice();
  updateActions();
});
el.playAll.addEventListener("click", toggleRecord);
el.slice.addEventListener("click", () => chop({ points: state.editor.points }));
el.download.addEventListener("click", download);
$("zoom-in").addEventListener("click", () => view.zoomBy(2));
$("zoom-out").addEventListener("click", () => view.zoomBy(0.5));
$("zoom-fit").addEventListener("click", () => view.zoomToFit());
el.add.addEventListener("click", () => addChop(sampler.isSounding("record") ? sampler.position("record") : view.cursor_s));
el.remove.addEventListener("click", () => removeChop(state.selected));
el.undo.addEventListener("click", () => undoRedo(false));
el.redo.addEventListener("click", () => undoRedo(true));
el.choke.addEventListener("change", () => {
  sampler.choke = el.choke.checked;
  say(el.choke.checked ? "Choke on: a pad cuts the others." : "Choke off: pads sound together.");
});
el.padModeAll.addEventListener("change", () => {
  const mode = el.padModeAll.value;
  if (!mode) return;
  state.padModes = state.chops.map(() => mode);
  sampler.stopPads();
  renderPads();
});
el.help.addEventListener("click", () => el.shortcuts.showModal());

for (const name of ["dragenter", "dragover"]) {
  document.addEventListener(name, (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types || []).includes("Files")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    el.drop.classList.add("over");
  });
}
document.addEventListener("dragleave", (event) => {
  if (event.relatedTarget === null) el.drop.classList.remove("over");
});
document.addEventListener("drop", (event) => {
  if (!event.dataTransfer || !event.dataTransfer.files.length) return;
  event.preventDefault();
  el.drop.classList.remove("over");
  takeFile(event.dataTransfer.files[0]);
});

// --- MIDI -----------------------------------------------------------------------------------------------------

function handleMidi(data) {
  const message = parseMidi(data, Math.min(16, state.chops.length));
  if (!message) return;
  if (message.on) pressPad(message.pad, message.velocity);
  else releasePad(message.pad);
}

if (midiAvailable()) {
  el.midi.addEventListener("click", async () => {
    try {
      const names = await connectMidi(handleMidi);
      state.midiNames = names;
      const list = names();
      el.midiStatus.textContent = list.length ? `MIDI: ${list.join(", ")}` : "MIDI on: no input connected yet";
    } catch {
      el.midiStatus.textContent = "MIDI access was refused";
    }
  });
} else {
  el.midi.disabled = true;
  el.midi.title = "This browser does not offer Web MIDI";
  el.midiStatus.textContent = "no Web MIDI here";
}

// --- start ----------------------------------------------------------------------------------------------------

let resizeFrame = 0;
new ResizeObserver(() => {
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(() => state.doc && view.resized());
}).observe($("wave"));

state.capsReady = Capabilities.load().then((caps) => {
  state.caps = caps;
  applyCapabilities(caps);
  document.body.dataset.capabilities = [...["points", "snap", ...SLICE_FIELDS].filter((name) => caps.supports(name))].join(" ");
});

/** Read-only views of the page's state for tests and automation, and midi(), which feeds one MIDI message in as a
 * pad controller would (the way to test the MIDI mapping without a device). */
window.sampleChop = Object.freeze({
  points: () => (state.editor ? [...state.editor.points] : []),
  chops: () => state.chops.map((chop) => ({ ...chop })),
  onsets: () => [...state.onsets],
  selected: () => state.selected,
  padModes: () => [...state.padModes],
  voice: (id) => sampler.elapsed(id),
  level: () => sampler.level(),
  audioTime: () => sampler.now(),
  timings: () => [...state.timings],
  midi: (data) => handleMidi(data),
  describeProblem: (status, problem) => describeProblem(status, problem, state.caps, null),
  slug: (name) => recordSlug(name),
  sentence,
});
