/* sampleChop web page: upload a record to POST /chop, draw its waveform with the chops, audition them like pads.
 *
 * No libraries: the record is decoded and played in the browser with WebAudio; the waveform is a canvas.
 * document.body.dataset.state is idle | uploading | chopping | ready | error;
 * document.body.dataset.playing is the chop index being played ("all" for the whole record), absent when silent.
 */
(() => {
  "use strict";

  const PAD_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "Q", "W", "E", "R", "T", "Y", "U", "I"];
  const KEY_CODES = PAD_KEYS.map((key) => (/\d/.test(key) ? `Digit${key}` : `Key${key}`));
  const COLOURS = [
    "#ff5d5d", "#ffa23a", "#ffd93d", "#7ee06a", "#3fd8c4", "#4fb3ff", "#8c7bff", "#ff6fd0",
    "#ff8a7a", "#ffc27a", "#f2ee8a", "#a9f59a", "#85efe1", "#92d0ff", "#b8adff", "#ffa6e4",
  ];

  const $ = (id) => document.getElementById(id);
  const el = {
    form: $("chop-form"),
    drop: $("drop"),
    file: $("file"),
    fileName: $("file-name"),
    chops: $("chops"),
    topN: $("top_n"),
    lambda: $("lambda"),
    lambdaValue: $("lambda-value"),
    rechop: $("rechop"),
    statusRow: $("status-row"),
    progress: $("progress"),
    status: $("status"),
    alert: $("alert"),
    result: $("result"),
    summary: $("summary"),
    playAll: $("play-all"),
    download: $("download"),
    wave: $("wave"),
    canvas: $("wave-canvas"),
    regions: $("regions"),
    playhead: $("playhead"),
    waveNote: $("wave-note"),
    ruler: $("ruler"),
    pads: $("pads"),
    announce: $("announce"),
  };

  const state = {
    file: null, // the File being chopped
    doc: null, // the last /chop answer
    buffer: null, // the decoded record (AudioBuffer) or null when the browser cannot decode it
    decoding: null, // Promise<AudioBuffer|null> for state.file
    request: null, // the XMLHttpRequest in flight
    context: null, // the AudioContext, made on first use
    voice: null, // {source, index, startedAt, offset, duration}
    frame: 0,
  };

  // --- formatting ----------------------------------------------------------------------------------------------

  const seconds = (value) => `${value.toFixed(2)} s`;
  const probability = (value) => value.toFixed(2);
  const colour = (index) => COLOURS[(index - 1) % COLOURS.length];
  const keyFor = (index) => PAD_KEYS[index - 1] || null;

  function describeChannels(count) {
    return count === 1 ? "mono" : count === 2 ? "stereo" : `${count} channels`;
  }

  function setState(name) {
    document.body.dataset.state = name;
  }

  // --- messages and progress -----------------------------------------------------------------------------------

  function showAlert(title, detail) {
    el.alert.replaceChildren();
    const strong = document.createElement("strong");
    strong.textContent = title;
    el.alert.append(strong);
    if (detail) {
      const text = document.createElement("span");
      text.textContent = detail;
      el.alert.append(text);
    }
    el.alert.hidden = false;
  }

  function clearAlert() {
    el.alert.hidden = true;
    el.alert.replaceChildren();
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

  // What to say for a problem document (or any failed answer) from the service.
  function problemMessage(xhr) {
    let problem = null;
    try {
      problem = JSON.parse(xhr.responseText);
    } catch {
      problem = null;
    }
    const status = xhr.status;
    let title = (problem && problem.title) || `The service answered ${status} ${xhr.statusText || ""}`.trim();
    let detail = problem && problem.detail;
    if (problem && Array.isArray(problem.errors) && !detail) {
      detail = problem.errors.map((error) => error.msg || JSON.stringify(error)).join("; ");
    }
    if (status === 413) {
      const limit = problem && problem.max_upload_bytes;
      const mb = limit ? ` (the limit is ${(limit / 1e6).toFixed(1)} MB)` : "";
      detail = `${detail || "The file is too big for this service."}${mb} Try a shorter or compressed record.`;
    } else if (status === 415 && !(problem && problem.type === "/problems/unsupported-request-type")) {
      detail = `${detail || "The file could not be decoded."} Pick a WAV, FLAC, OGG or MP3 record.`;
    } else if (status === 503) {
      detail = `${detail || "The service is starting."} Try again in a few seconds.`;
    }
    return { title, detail };
  }

  // --- chopping ------------------------------------------------------------------------------------------------

  function params() {
    return {
      chops: el.chops.value.trim() || "8",
      top_n: el.topN.value.trim() || "16",
      lambda: el.lambda.value,
    };
  }

  function chop() {
    if (!state.file) return;
    if (state.request) state.request.abort();
    clearAlert();
    const form = new FormData();
    for (const [name, value] of Object.entries(params())) form.append(name, value);
    form.append("format", "json");
    form.append("file", state.file, state.file.name || "record");

    const xhr = new XMLHttpRequest();
    state.request = xhr;
    xhr.open("POST", "chop"); // relative: the page may be served under a path prefix
    xhr.setRequestHeader("Accept", "application/json, application/problem+json");
    setState("uploading");
    el.result.setAttribute("aria-busy", "true");
    el.rechop.disabled = true;
    showProgress("Uploading 0 %", 0);

    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const fraction = event.loaded / event.total;
      showProgress(`Uploading ${Math.round(fraction * 100)} %`, fraction);
    });
    xhr.upload.addEventListener("load", () => {
      setState("chopping");
      showProgress("Chopping…", null);
    });
    xhr.addEventListener("load", () => {
      if (state.request !== xhr) return;
      state.request = null;
      finish();
      if (xhr.status >= 200 && xhr.status < 300) {
        let doc;
        try {
          doc = JSON.parse(xhr.responseText);
        } catch {
          fail("Unexpected answer", "The service did not answer with JSON.");
          return;
        }
        showResult(doc);
      } else {
        const { title, detail } = problemMessage(xhr);
        fail(title, detail);
      }
    });
    xhr.addEventListener("error", () => {
      if (state.request !== xhr) return;
      state.request = null;
      finish();
      fail("Could not reach the service", "Check that sampleChop is running, then try again.");
    });
    xhr.send(form);
  }

  function finish() {
    hideProgress();
    el.result.removeAttribute("aria-busy");
    el.rechop.disabled = !state.file;
  }

  function fail(title, detail) {
    setState("error");
    showAlert(title, detail);
  }

  function takeFile(file) {
    if (!file) return;
    el.announce.textContent = "";
    stop();
    state.file = file;
    state.doc = null;
    state.buffer = null;
    el.result.hidden = true;
    el.fileName.textContent = `${file.name} · ${(file.size / 1e6).toFixed(2)} MB`;
    el.rechop.disabled = false;
    state.decoding = decode(file);
    chop();
  }

  // --- decoding and drawing ------------------------------------------------------------------------------------

  function audioContext() {
    if (!state.context) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      state.context = new Context();
    }
    return state.context;
  }

  async function decode(file) {
    const context = audioContext();
    if (!context) return null;
    try {
      const bytes = await file.arrayBuffer();
      return await context.decodeAudioData(bytes);
    } catch {
      return null;
    }
  }

  async function showResult(doc) {
    const file = state.file;
    state.doc = doc;
    const buffer = await state.decoding;
    if (state.file !== file) return; // another record was dropped meanwhile
    state.buffer = buffer;
    el.result.hidden = false;
    el.download.href = doc.zip_url;
    el.download.setAttribute("download", `samplechop-${doc.id}.zip`);
    const chops = doc.chops.length;
    el.summary.textContent = [
      file.name,
      seconds(doc.duration),
      `${(doc.sample_rate / 1000).toFixed(1)} kHz`,
      describeChannels(doc.channels),
      `${chops} chop${chops === 1 ? "" : "s"} of ${doc.candidates} candidates`,
    ].join(" · ");
    el.waveNote.hidden = Boolean(buffer);
    el.waveNote.textContent = buffer ? "" : "This browser cannot decode the record, so it cannot play it here.";
    el.playAll.disabled = !buffer;
    renderRegions(doc);
    renderPads(doc);
    renderRuler(doc.duration);
    drawWave();
    setState("ready");
    const keys = chops > 8 ? `1 to 8 and Q to ${PAD_KEYS[Math.min(chops, 16) - 1]}` : `1 to ${chops}`;
    el.announce.textContent = `${chops} chop${chops === 1 ? "" : "s"} ready. Keys ${keys} play them.`;
  }

  function renderRegions(doc) {
    el.regions.replaceChildren();
    for (const chop of doc.chops) {
      const region = document.createElement("div");
      region.className = "region";
      region.dataset.index = chop.index;
      region.dataset.start = chop.start;
      region.dataset.end = chop.end;
      region.style.left = `${(100 * chop.start) / doc.duration}%`;
      region.style.width = `${(100 * (chop.end - chop.start)) / doc.duration}%`;
      region.style.setProperty("--chop", colour(chop.index));
      region.setAttribute("aria-hidden", "true"); // the pads are the accessible controls
      // a narrow last region keeps its label inside the waveform: anchored on its right edge
      if ((chop.end - chop.start) / doc.duration < 0.08 && chop.end / doc.duration > 0.95) region.classList.add("tail");
      region.title = `Chop ${chop.index}: ${seconds(chop.start)}–${seconds(chop.end)}, p ${probability(chop.probability)}`;
      const label = document.createElement("span");
      label.className = "region-label";
      const number = document.createElement("b");
      number.textContent = chop.index;
      const p = document.createElement("span");
      p.className = "region-p";
      p.textContent = probability(chop.probability);
      label.append(number, p);
      region.append(label);
      region.addEventListener("click", () => playChop(chop.index));
      el.regions.append(region);
    }
  }

  function renderPads(doc) {
    el.pads.replaceChildren();
    for (const chop of doc.chops) {
      const key = keyFor(chop.index);
      const pad = document.createElement("button");
      pad.type = "button";
      pad.className = "pad";
      pad.dataset.index = chop.index;
      pad.style.setProperty("--chop", colour(chop.index));
      pad.setAttribute(
        "aria-label",
        `Pad ${chop.index}: ${seconds(chop.start)} to ${seconds(chop.end)}, probability ${probability(chop.probability)}`,
      );
      if (key) pad.setAttribute("aria-keyshortcuts", key);
      const number = document.createElement("span");
      number.className = "pad-number";
      number.textContent = chop.index;
      const keyHint = document.createElement("kbd");
      keyHint.className = "pad-key";
      keyHint.textContent = key || "";
      const time = document.createElement("span");
      time.className = "pad-time";
      time.textContent = `${chop.start.toFixed(2)}–${chop.end.toFixed(2)} s`;
      const p = document.createElement("span");
      p.className = "pad-p";
      p.textContent = `p ${probability(chop.probability)}`;
      const meter = document.createElement("span");
      meter.className = "pad-meter";
      meter.style.setProperty("--p", chop.probability);
      pad.append(number, keyHint, time, p, meter);
      pad.disabled = !state.buffer;
      pad.addEventListener("click", () => playChop(chop.index));
      el.pads.append(pad);
    }
  }

  function renderRuler(duration) {
    el.ruler.replaceChildren();
    const width = el.wave.clientWidth || 600;
    const steps = [0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300];
    const step = steps.find((s) => (width * s) / duration >= 70) || 600;
    for (let t = 0; t <= duration + 1e-9; t += step) {
      const tick = document.createElement("span");
      tick.style.left = `${(100 * t) / duration}%`;
      tick.textContent = duration >= 120 ? `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}` : `${+t.toFixed(2)}s`;
      el.ruler.append(tick);
    }
  }

  function drawWave() {
    const canvas = el.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(el.wave.clientWidth * ratio));
    const height = Math.max(1, Math.round(el.wave.clientHeight * ratio));
    canvas.width = width;
    canvas.height = height;
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, width, height);
    const middle = height / 2;
    g.fillStyle = "rgba(255,255,255,0.08)";
    g.fillRect(0, Math.floor(middle), width, Math.max(1, Math.round(ratio)));
    const buffer = state.buffer;
    const doc = state.doc;
    if (!buffer || !doc) return;
    // x spans the service's duration, so the waveform lines up with the regions
    const channels = [];
    for (let c = 0; c < buffer.numberOfChannels; c += 1) channels.push(buffer.getChannelData(c));
    const perPixel = (doc.duration * buffer.sampleRate) / width;
    const available = buffer.length;
    let peak = 1e-6;
    const mins = new Float32Array(width);
    const maxs = new Float32Array(width);
    for (let x = 0; x < width; x += 1) {
      const from = Math.floor(x * perPixel);
      const to = Math.min(available, Math.max(from + 1, Math.floor((x + 1) * perPixel)));
      let lo = 0;
      let hi = 0;
      const stride = Math.max(1, Math.floor((to - from) / 256));
      for (let i = from; i < to; i += stride) {
        let v = 0;
        for (const data of channels) v += data[i];
        v /= channels.length;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      mins[x] = lo;
      maxs[x] = hi;
      peak = Math.max(peak, -lo, hi);
    }
    const scale = (0.9 * middle) / peak;
    const gradient = g.createLinearGradient(0, 0, 0, height);
    gradient.addColorStop(0, "#f4f1ea");
    gradient.addColorStop(0.5, "#c9c4ba");
    gradient.addColorStop(1, "#f4f1ea");
    g.fillStyle = gradient;
    for (let x = 0; x < width; x += 1) {
      const top = middle - maxs[x] * scale;
      const bottom = middle - mins[x] * scale;
      g.fillRect(x, top, 1, Math.max(ratio, bottom - top));
    }
  }

  // --- playback ------------------------------------------------------------------------------------------------

  function markPlaying(index) {
    for (const node of document.querySelectorAll(".region.playing, .pad.playing")) node.classList.remove("playing");
    if (index === null) {
      delete document.body.dataset.playing;
      el.playAll.setAttribute("aria-pressed", "false");
      el.playAll.querySelector(".play-text").textContent = "Play record";
      el.playhead.hidden = true;
      return;
    }
    document.body.dataset.playing = String(index);
    if (index === "all") {
      el.playAll.setAttribute("aria-pressed", "true");
      el.playAll.querySelector(".play-text").textContent = "Stop";
    } else {
      el.playAll.setAttribute("aria-pressed", "false");
      el.playAll.querySelector(".play-text").textContent = "Play record";
      for (const node of document.querySelectorAll(`.region[data-index="${index}"], .pad[data-index="${index}"]`)) {
        node.classList.add("playing");
      }
    }
  }

  function play(index, offset, duration) {
    const context = audioContext();
    if (!context || !state.buffer) return;
    stop();
    if (context.state === "suspended") context.resume();
    const source = context.createBufferSource();
    source.buffer = state.buffer;
    source.connect(context.destination);
    const voice = { source, index, startedAt: context.currentTime, offset, duration };
    source.addEventListener("ended", () => {
      if (state.voice === voice) {
        state.voice = null;
        markPlaying(null);
      }
    });
    source.start(0, offset, duration);
    state.voice = voice;
    markPlaying(index);
    animate();
  }

  function playChop(index) {
    const chop = state.doc && state.doc.chops.find((c) => c.index === index);
    if (!chop) return;
    play(index, chop.start, Math.max(0.001, chop.end - chop.start));
  }

  function toggleRecord() {
    if (state.voice && state.voice.index === "all") stop();
    else if (state.buffer) play("all", 0, state.buffer.duration);
  }

  function stop() {
    const voice = state.voice;
    state.voice = null;
    if (voice) {
      try {
        voice.source.stop();
      } catch {
        /* already stopped */
      }
    }
    markPlaying(null);
  }

  function animate() {
    cancelAnimationFrame(state.frame);
    const tick = () => {
      const voice = state.voice;
      if (!voice || !state.doc || !state.context) {
        el.playhead.hidden = true;
        return;
      }
      const position = voice.offset + Math.min(voice.duration, state.context.currentTime - voice.startedAt);
      el.playhead.hidden = false;
      el.playhead.style.left = `${(100 * position) / state.doc.duration}%`;
      state.frame = requestAnimationFrame(tick);
    };
    tick();
  }

  // --- events --------------------------------------------------------------------------------------------------

  el.file.addEventListener("change", () => {
    takeFile(el.file.files && el.file.files[0]);
  });

  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    chop();
  });

  el.lambda.addEventListener("input", () => {
    el.lambdaValue.textContent = Number(el.lambda.value).toFixed(3);
  });

  el.playAll.addEventListener("click", toggleRecord);

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

  function typing(target) {
    if (!(target instanceof HTMLElement)) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    // the file input keeps Space and Enter (they open the file picker)
    return target.tagName === "INPUT" && !["button", "checkbox", "radio"].includes(target.type);
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (!state.doc || el.result.hidden) return;
    if (event.code === "Space" || event.key === " ") {
      event.preventDefault();
      if (!event.repeat) toggleRecord();
      return;
    }
    if (event.key === "Escape") {
      stop();
      return;
    }
    let slot = KEY_CODES.indexOf(event.code);
    if (slot < 0) slot = PAD_KEYS.indexOf((event.key || "").toUpperCase());
    if (slot < 0 || event.repeat) return;
    const index = slot + 1;
    if (index > state.doc.chops.length) return;
    event.preventDefault();
    playChop(index);
  });

  let resizeFrame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => {
      if (!state.doc) return;
      drawWave();
      renderRuler(state.doc.duration);
    });
  }).observe(el.wave);
})();
