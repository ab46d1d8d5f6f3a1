/* Talking to the service: what POST /chop accepts (read from its OpenAPI document), the request itself, and
 * problem+json answers turned into sentences a producer can act on, each tied to the field it concerns.
 */

/** Fields of POST /chop newer than the first version of the page; each control is enabled only when the running
 * server documents the field (an older server would ignore it silently, and the page must never fake a result). */
export const OPTIONAL_FIELDS = ["points", "snap", "mode", "bars", "beats", "export", "bit_depth", "max_length"];

/** What people call each request field (the labels on the page). */
export const FIELD_LABELS = {
  file: "The record",
  chops: "Chops",
  top_n: "N",
  lambda: "λ",
  threshold: "Threshold",
  min_distance: "Minimum distance",
  max_length: "Longest slice",
  bit_depth: "Bit depth",
  mode: "Slice length",
  bars: "Bars",
  beats: "Beats",
  export: "Export",
  points: "The chop points",
  snap: "Snap",
  format: "Format",
};

/** The request fields the service knows, as documented by its OpenAPI document (name → JSON schema). */
export class Capabilities {
  constructor(properties) {
    this.properties = properties || {};
  }

  static async load(url = "openapi.json") {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" } });
      if (!answer.ok) return new Capabilities({});
      const document = await answer.json();
      const body = document?.paths?.["/chop"]?.post?.requestBody?.content?.["multipart/form-data"]?.schema;
      return new Capabilities(body?.properties || {});
    } catch {
      return new Capabilities({}); // no document: only the fields every version takes are sent
    }
  }

  supports(name) {
    return Object.prototype.hasOwnProperty.call(this.properties, name);
  }

  /** The allowed values of an enumerated field (null when the field is absent or not enumerated). */
  choices(name) {
    const schema = this.properties[name];
    if (!schema) return null;
    const options = schema.enum || schema.items?.enum || (schema.anyOf || []).flatMap((item) => item.enum || []);
    return options.length ? options.map(String) : null;
  }

  bounds(name) {
    const schema = this.properties[name] || {};
    return { minimum: schema.minimum, maximum: schema.maximum, integer: schema.type === "integer" };
  }
}

/** POST /chop with a FormData; resolves to {status, body, retryAfter} (never rejects for HTTP errors).
 * `onProgress(fraction)` follows the upload, `onUploaded()` fires when the server has the whole body. */
export function postChop(form, { onProgress, onUploaded } = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve) => {
    xhr.open("POST", "chop"); // relative: the page may be served under a path prefix
    xhr.setRequestHeader("Accept", "application/json, application/problem+json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.upload.addEventListener("load", () => onUploaded && onUploaded());
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      resolve({ status: xhr.status, body, retryAfter: xhr.getResponseHeader("Retry-After") });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, body: null, retryAfter: null }));
    xhr.addEventListener("abort", () => resolve({ status: -1, body: null, retryAfter: null }));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

// --- problems as sentences ----------------------------------------------------------------------------------------

/** "the record is silent" → "The record is silent." */
export function sentence(text) {
  const trimmed = String(text || "").trim().replace(/\s+/g, " ");
  if (!trimmed) return "";
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
}

function rangeWords(bounds) {
  const { minimum, maximum, integer } = bounds;
  const kind = integer ? "a whole number" : "a number";
  if (minimum !== undefined && maximum !== undefined) return `${kind} from ${minimum} to ${maximum}`;
  if (minimum !== undefined) return `${kind} of at least ${minimum}`;
  if (maximum !== undefined) return `${kind} of at most ${maximum}`;
  return kind;
}

/** The sentence for one pydantic-style validation error ({loc, msg, type}) of field `name`. */
function fieldErrorSentence(name, error, capabilities) {
  const label = FIELD_LABELS[name] || name;
  const type = String(error.type || "");
  const bounds = capabilities ? capabilities.bounds(name) : {};
  if (type === "missing") return `${label} is missing.`;
  if (/^(greater|less)_than/.test(type) || /parsing|int_from_float|finite_number/.test(type)) {
    return `${label} must be ${rangeWords(bounds)}.`;
  }
  if (/enum|literal/.test(type)) {
    const choices = capabilities && capabilities.choices(name);
    return choices ? `${label} must be one of ${choices.join(", ")}.` : `${label} has a value the service does not know.`;
  }
  // a message of our own validators, e.g. "Value error, bit_depth must be 16 or 24"
  const message = String(error.msg || "").replace(/^Value error,\s*/i, "");
  return sentence(replaceNames(message));
}

/** Parameter names inside the engine's messages ("top_n must be at least chops") in the page's words. */
function replaceNames(text) {
  return text
    .replace(/\btop_n must be at least chops\b/, "N must be at least the number of chops")
    .replace(/\b(top_n|lambda|bit_depth|max_length|min_distance|chops|threshold)\b/g, (name) => FIELD_LABELS[name]);
}

/** The field an engine message is about: the first parameter it names. */
function fieldNamed(text) {
  const match = /\b(top_n|lambda|bit_depth|max_length|min_distance|chops|threshold|points|mode|bars|beats|export|snap)\b/.exec(
    text || "",
  );
  return match ? match[1] : null;
}

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(bytes >= 1e7 ? 0 : 1)} MB`;
}

/** Turn an answer from POST /chop (or a network failure) into {title, sentences, fields}: `fields` maps a request
 * field to the sentence shown next to it ("file" is the drop zone); `sentences` is what the page-level alert says.
 * `status` 0 is a network failure. */
export function describeProblem(status, problem, capabilities, retryAfter) {
  const slug = String(problem?.type || "").replace(/^.*\/problems\//, "");
  const detail = problem?.detail || "";
  const fields = {};
  const sentences = [];
  let title = problem?.title || "Something went wrong";
  const wait = Number(retryAfter) > 0 ? `${Number(retryAfter)} seconds` : "a few seconds";

  if (status === 0) {
    title = "Could not reach the service";
    sentences.push("Check that sampleChop is running, then try again.");
  } else if (status === 413) {
    title = "The file is too big";
    const limit = problem?.max_upload_bytes;
    fields.file = limit
      ? `This service takes records up to ${megabytes(limit)}. Try a shorter or compressed record (FLAC, OGG or MP3).`
      : "Try a shorter or compressed record (FLAC, OGG or MP3).";
  } else if (status === 415 && slug !== "unsupported-request-type") {
    title = "Not a record the service can read";
    fields.file = "Pick a WAV, FLAC, OGG or MP3 file.";
  } else if (status === 415) {
    title = "The upload was not understood";
    sentences.push("Reload the page and try again.");
  } else if (status === 422 && Array.isArray(problem?.errors) && problem.errors.length) {
    title = "Some settings need a change";
    for (const error of problem.errors) {
      const loc = Array.isArray(error.loc) ? error.loc : [];
      const name = String(loc[loc.length - 1] ?? "");
      const text = fieldErrorSentence(name, error, capabilities);
      if (FIELD_LABELS[name]) fields[name] = fields[name] ? `${fields[name]} ${text}` : text;
      else sentences.push(text);
    }
  } else if (status === 422 && ["record-too-long", "record-too-short", "silent-record", "beyond-analysis-limits"].includes(slug)) {
    title = problem?.title || "This record cannot be chopped";
    const advice = slug === "record-too-long" ? " Trim it or pick a shorter record." : " Pick another record.";
    fields.file = `${sentence(detail)}${advice}`;
  } else if (status === 422) {
    title = "Some settings need a change";
    const name = fieldNamed(detail);
    const text = sentence(replaceNames(detail)) || "The service did not accept these settings.";
    if (name) fields[name] = text;
    else sentences.push(text);
  } else if (status === 503) {
    title = slug === "busy" ? "The service is busy" : "The service is starting";
    sentences.push(`Try again in ${wait}.`);
  } else if (status === 408) {
    title = "The upload took too long";
    sentences.push("Check the connection and try again.");
  } else if (status === 400) {
    title = "The upload was cut short";
    sentences.push("Try again.");
  } else if (status === 404) {
    title = "This result has expired";
    sentences.push("Chop again to make a new one.");
  } else if (status >= 500) {
    title = "The service ran into an error";
    sentences.push("It has been logged. Try again, or try another record.");
  } else {
    title = problem?.title || `The service answered ${status}`;
    if (detail) sentences.push(sentence(detail));
  }
  return { title, sentences, fields };
}
