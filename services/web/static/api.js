// Talking to the server: the JSON API (protobuf's JSON mapping of the gRPC contract) and the
// live stream (Server-Sent Events read with fetch, so that a bearer token can go in a header).

const TOKEN_KEY = "rover-token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const out = { ...extra };
  if (token()) out.Authorization = `Bearer ${token()}`;
  return out;
}

// Calls `rover.v1.<service>/<method>`; resolves to {ok, body}: the response, or the status
// {code, message, details} the services answered.
export async function call(service, method, request) {
  let response;
  try {
    response = await fetch(`/api/rover.v1.${service}/${method}`, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(request),
    });
  } catch (error) {
    return { ok: false, body: { code: "UNAVAILABLE", message: `the server cannot be reached (${error})`, details: [] } };
  }
  let body;
  try {
    body = await response.json();
  } catch {
    body = { code: "UNKNOWN", message: `HTTP ${response.status}`, details: [] };
  }
  return { ok: response.ok, body };
}

// An error as words: the message, then each field violation's description.
export function describe(error) {
  const lines = [`${error.code}: ${error.message}`];
  for (const detail of error.details || []) {
    for (const violation of detail.fieldViolations || []) {
      if (!error.message.includes(violation.description)) {
        lines.push(`${violation.field}: ${violation.description}`);
      }
    }
  }
  return lines.join("\n");
}

// The events of a text/event-stream response: {event, id, data}.
async function* serverSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { event: "message", id: null, data: "" };
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        if (colon === 0) continue; // a comment
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") message.event = text;
        else if (field === "id") message.id = text;
        else if (field === "data") message.data += (message.data ? "\n" : "") + text;
      }
      if (message.data) yield message;
    }
  }
}

// Codes after which the stream is opened again from the last sequence applied.
const RETRY = new Set(["UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "CANCELLED", "ABORTED", "INTERNAL", "UNKNOWN"]);

// One grid's live updates: the snapshot, then every change in order; after a dropped stream it
// resumes from the last sequence it applied (from_version), so nothing is missed or repeated.
export class LiveGrid {
  constructor(gridId, { onSnapshot, onChange, onState }) {
    this.gridId = gridId;
    this.last = null; // the last sequence applied (null: nothing yet, start with the snapshot)
    this.handlers = { onSnapshot, onChange, onState };
    this.abort = new AbortController();
    this.stopped = false;
  }

  stop() {
    this.stopped = true;
    this.abort.abort();
    this.handlers.onState("closed", "closed");
  }

  async run() {
    let failures = 0;
    while (!this.stopped) {
      const error = await this.once();
      if (this.stopped) return;
      if (error === null) {
        failures = 0;
        continue;
      }
      // A grid just created may not be published yet: wait a little for it.
      const waiting = error.code === "NOT_FOUND" && this.last === null && failures < 20;
      if (!RETRY.has(error.code) && !waiting) {
        this.handlers.onState("failed", describe(error));
        return;
      }
      failures += 1;
      const where = this.last === null ? "the start" : `#${this.last}`;
      this.handlers.onState("reconnecting", `reconnecting from ${where}: ${error.message}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** failures, 3000)));
    }
  }

  // One stream; resolves to the error that ended it (null: it ended cleanly).
  async once() {
    const query = this.last === null ? "" : `?from_version=${this.last}`;
    let response;
    try {
      response = await fetch(`/live/${encodeURIComponent(this.gridId)}${query}`, {
        headers: headers({ Accept: "text/event-stream" }),
        signal: this.abort.signal,
      });
      if (!response.ok) return (await response.json());
      this.handlers.onState("connecting", "connected, waiting for updates");
      for await (const message of serverSentEvents(response)) {
        const body = JSON.parse(message.data);
        if (message.event === "error") return body;
        const sequence = Number(body.sequence);
        if (message.event === "snapshot") {
          this.handlers.onSnapshot(body.snapshot, sequence);
          this.last = sequence;
        } else if (message.event === "event") {
          if (this.last !== null && sequence !== this.last + 1) {
            return { code: "ABORTED", message: `expected #${this.last + 1}, got #${sequence}`, details: [] };
          }
          this.handlers.onChange(body.event, sequence);
          this.last = sequence;
        } else if (message.event === "resume") {
          this.last = Number(body.resume.fromVersion);
          continue;
        }
        this.handlers.onState("live", `live at #${this.last}`);
      }
      return { code: "UNAVAILABLE", message: "the stream ended", details: [] };
    } catch (error) {
      if (this.stopped) return null;
      return { code: "UNAVAILABLE", message: `connection lost (${error.message || error})`, details: [] };
    }
  }
}
