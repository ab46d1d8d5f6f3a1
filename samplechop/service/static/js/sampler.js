/* A small WebAudio sampler over the decoded record: pads play a span of it as one-shot, gate (while held) or loop
 * voices; with choke on a new pad cuts the others, with it off pads sound together. The record itself plays as
 * one more voice ("record") that pads never choke.
 */

/** Fade-in of a voice: 2 ms removes the click of starting mid-waveform and is shorter than any attack. */
const FADE_IN_S = 0.002;
/** Fade-out when a voice is cut (gate released, choked, stopped): 6 ms, click-free and still heard as immediate. */
const FADE_OUT_S = 0.006;

export const PAD_MODES = ["one-shot", "gate", "loop"];

export class Sampler {
  constructor(onChange) {
    this.onChange = onChange || (() => {});
    this.context = null;
    this.master = null;
    this.analyser = null;
    this.buffer = null;
    this.voices = new Map(); // id → {source, gain, start, end, mode, startedAt}
    this.choke = true;
  }

  /** The AudioContext, made on first use (a page may not start audio before a gesture). */
  audio() {
    if (!this.context) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      this.context = new Context();
      this.master = this.context.createGain();
      this.analyser = this.context.createAnalyser();
      this.analyser.fftSize = 2048;
      this.master.connect(this.analyser);
      this.analyser.connect(this.context.destination);
    }
    return this.context;
  }

  setBuffer(buffer) {
    this.stopAll();
    this.buffer = buffer;
  }

  now() {
    return this.context ? this.context.currentTime : 0;
  }

  isSounding(id) {
    return this.voices.has(id);
  }

  sounding() {
    return [...this.voices.keys()];
  }

  /** Start voice `id` over [start_s, end_s) of the record; a voice with the same id restarts. Returns false when
   * there is nothing to play (no buffer, no WebAudio). */
  play(id, start_s, end_s, mode = "one-shot", velocity = 1) {
    const context = this.audio();
    if (!context || !this.buffer) return false;
    if (context.state === "suspended") context.resume();
    if (this.choke && id !== "record") {
      for (const other of this.sounding()) if (other !== "record" && other !== id) this.stop(other, false);
    }
    this.stop(id, false);
    const length = Math.max(0.001, Math.min(end_s, this.buffer.duration) - start_s);
    const source = context.createBufferSource();
    source.buffer = this.buffer;
    const gain = context.createGain();
    const at = context.currentTime;
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(Math.max(0.05, Math.min(1, velocity)), at + FADE_IN_S);
    source.connect(gain);
    gain.connect(this.master);
    const voice = { id, source, gain, start: start_s, end: start_s + length, mode, startedAt: at };
    if (mode === "loop") {
      source.loop = true;
      source.loopStart = start_s;
      source.loopEnd = start_s + length;
      source.start(at, start_s);
    } else {
      source.start(at, start_s, length);
    }
    source.addEventListener("ended", () => {
      if (this.voices.get(id) === voice) {
        this.voices.delete(id);
        this.onChange();
      }
    });
    this.voices.set(id, voice);
    this.onChange();
    return true;
  }

  /** Key or button up: a gate voice stops, the others play on. */
  release(id) {
    const voice = this.voices.get(id);
    if (voice && voice.mode === "gate") this.stop(id);
  }

  stop(id, notify = true) {
    const voice = this.voices.get(id);
    if (!voice) return;
    this.voices.delete(id);
    const at = this.context.currentTime;
    voice.gain.gain.cancelScheduledValues(at);
    voice.gain.gain.setValueAtTime(voice.gain.gain.value, at);
    voice.gain.gain.linearRampToValueAtTime(0, at + FADE_OUT_S);
    try {
      voice.source.stop(at + FADE_OUT_S);
    } catch {
      /* already stopped */
    }
    if (notify) this.onChange();
  }

  stopPads() {
    for (const id of this.sounding()) if (id !== "record") this.stop(id, false);
    this.onChange();
  }

  stopAll() {
    for (const id of this.sounding()) this.stop(id, false);
    this.onChange();
  }

  /** Where voice `id` is in the record now (seconds), or null when it is silent. */
  position(id) {
    const voice = this.voices.get(id);
    if (!voice || !this.context) return null;
    const elapsed = Math.max(0, this.context.currentTime - voice.startedAt);
    const length = voice.end - voice.start;
    if (voice.mode === "loop") return voice.start + (elapsed % length);
    return Math.min(voice.end, voice.start + elapsed);
  }

  /** How long voice `id` has sounded, and its span's length (seconds), or null. */
  elapsed(id) {
    const voice = this.voices.get(id);
    if (!voice || !this.context) return null;
    return { elapsed_s: this.context.currentTime - voice.startedAt, length_s: voice.end - voice.start };
  }

  /** The RMS level of everything playing right now (0 when silent): what the speakers get. */
  level() {
    if (!this.analyser) return 0;
    const data = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    return Math.sqrt(sum / data.length);
  }
}
