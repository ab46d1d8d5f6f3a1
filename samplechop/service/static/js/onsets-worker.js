/* The onset detector off the main thread: receives {mono, sampleRate}, answers {onsets} (seconds). */
import { detectOnsets } from "./onsets.js";

self.addEventListener("message", (event) => {
  const { mono, sampleRate } = event.data;
  const onsets = detectOnsets(mono, sampleRate);
  self.postMessage({ onsets }, [onsets.buffer]);
});
