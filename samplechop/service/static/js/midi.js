/* Web MIDI input: a pad controller's notes play the pads. Asked for only when the producer clicks "MIDI" (the
 * browser may prompt), never on load. */

/** Note 36 (C1) is pad 1: the first pad of Ableton's Drum Rack and of most pad controllers' default bank. */
export const FIRST_NOTE = 36;

export function midiAvailable() {
  return typeof navigator !== "undefined" && typeof navigator.requestMIDIAccess === "function";
}

/** A MIDI message as {pad, on, velocity} (pad 1-based), or null when it is not a note of the pad range. A note-on
 * with velocity 0 is a note-off, as the MIDI spec says. */
export function parseMidi(data, padCount = 16) {
  if (!data || data.length < 3) return null;
  const kind = data[0] & 0xf0;
  if (kind !== 0x90 && kind !== 0x80) return null;
  const pad = data[1] - FIRST_NOTE + 1;
  if (pad < 1 || pad > padCount) return null;
  const on = kind === 0x90 && data[2] > 0;
  return { pad, on, velocity: data[2] / 127 };
}

/** Listen to every MIDI input, present and future; resolves to a function giving the inputs' names. */
export async function connectMidi(onMessage) {
  const access = await navigator.requestMIDIAccess({ sysex: false });
  const listen = () => {
    for (const input of access.inputs.values()) input.onmidimessage = (event) => onMessage(event.data);
  };
  listen();
  access.addEventListener("statechange", listen);
  return () => [...access.inputs.values()].map((input) => input.name || "MIDI input");
}
