/* A small PCM WAV encoder: planar float channels in, the bytes of a RIFF/WAVE file out.
 *
 * Layout (Microsoft RIFF/WAVE, 1991): "RIFF" <size> "WAVE", a 16-byte "fmt " chunk (format tag 1 = integer PCM,
 * channels, sample rate, byte rate, block align, bits per sample), then "data" <size> with the frames interleaved,
 * little-endian, two's complement. Tag 1 is what libsndfile itself writes for 16- and 24-bit WAV (every sampler and
 * DAW reads it); WAVE_FORMAT_EXTENSIBLE is not needed for the one or two channels of a record.
 *
 * Quantisation: a float x in [-1, 1] becomes round(x · 2^(bits−1)), clamped to the largest code, so a reader that
 * divides by 2^(bits−1) (libsndfile, soundfile, WebAudio) gets x back within half a step: 1/65536 at 16 bits.
 * Values outside [-1, 1] are clipped first (a decoder may overshoot on a loud lossy record).
 */

export const WAV_BIT_DEPTHS = [16, 24];
const HEADER_BYTES = 44;
const PCM_FORMAT_TAG = 1;

/** The WAV file of `channels` (Float32Arrays of one length, one per channel) at `sampleRate`, `bitDepth` 16 or 24
 * bits; an ArrayBuffer. Throws a RangeError on anything it cannot write (it never writes a broken file). */
export function encodeWav(channels, sampleRate, bitDepth = 16) {
  if (!WAV_BIT_DEPTHS.includes(bitDepth)) throw new RangeError(`bit depth must be 16 or 24, not ${bitDepth}`);
  if (!Array.isArray(channels) || channels.length < 1) throw new RangeError("a WAV needs at least one channel");
  if (!(Number.isInteger(sampleRate) && sampleRate > 0)) throw new RangeError(`not a sample rate: ${sampleRate}`);
  const frames = channels[0].length;
  if (channels.some((data) => data.length !== frames)) throw new RangeError("channels of different lengths");
  const bytesPerSample = bitDepth / 8;
  const blockAlign = channels.length * bytesPerSample;
  const dataBytes = frames * blockAlign;
  if (HEADER_BYTES + dataBytes > 0xffffffff) throw new RangeError("longer than a WAV file can hold (4 GiB)");

  const buffer = new ArrayBuffer(HEADER_BYTES + dataBytes);
  const view = new DataView(buffer);
  const text = (offset, chars) => {
    for (let i = 0; i < chars.length; i += 1) view.setUint8(offset + i, chars.charCodeAt(i));
  };
  text(0, "RIFF");
  view.setUint32(4, HEADER_BYTES - 8 + dataBytes, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true); // the fmt chunk's size
  view.setUint16(20, PCM_FORMAT_TAG, true);
  view.setUint16(22, channels.length, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * blockAlign, true); // bytes per second
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, bitDepth, true);
  text(36, "data");
  view.setUint32(40, dataBytes, true);

  const full = 2 ** (bitDepth - 1);
  const top = full - 1;
  const quantise = (x) => {
    const code = Math.round((x > 1 ? 1 : x < -1 ? -1 : x) * full);
    return code > top ? top : code; // NaN never reaches here: decoded audio is finite
  };
  let offset = HEADER_BYTES;
  if (bitDepth === 16) {
    for (let i = 0; i < frames; i += 1) {
      for (let c = 0; c < channels.length; c += 1) {
        view.setInt16(offset, quantise(channels[c][i]), true);
        offset += 2;
      }
    }
  } else {
    for (let i = 0; i < frames; i += 1) {
      for (let c = 0; c < channels.length; c += 1) {
        const code = quantise(channels[c][i]);
        view.setUint8(offset, code & 0xff);
        view.setUint8(offset + 1, (code >> 8) & 0xff);
        view.setUint8(offset + 2, (code >> 16) & 0xff); // >> keeps the sign: two's complement in 3 bytes
        offset += 3;
      }
    }
  }
  return buffer;
}
