// Every data call of the console: same origin, the key in Authorization, never in a URL.
// The key lives in sessionStorage only (gone when the tab closes; never localStorage or cookies).

const KEY = "ledgergate.key";

export function getKey() {
  return sessionStorage.getItem(KEY);
}

export function setKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function headers(extra = {}) {
  const key = getKey();
  return { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...extra };
}

function query(params) {
  const pairs = Object.entries(params || {}).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return pairs.length ? "?" + new URLSearchParams(pairs).toString() : "";
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  let code;
  try {
    const body = await response.json();
    if (body && body.error) {
      message = body.error.message || message;
      code = body.error.code;
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(response.status, message, code);
}

async function call(method, path, { params, body, accept = "application/json", signal } = {}) {
  const init = { method, headers: headers({ Accept: accept }), signal, cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path + query(params), init);
  if (!response.ok) throw await failure(response);
  return accept === "application/json" ? response.json() : response.text();
}

export const get = (path, params, options = {}) => call("GET", path, { ...options, params });
export const getText = (path, params) => call("GET", path, { params, accept: "text/plain" });
export const post = (path, body) => call("POST", path, { body: body ?? {} });
export const del = (path) => call("DELETE", path);

// The log's live tail. EventSource cannot send Authorization, so this reads the SSE body with
// fetch() and a ReadableStream, and resumes after the last id it saw (Last-Event-ID) on a drop.
export function tail(after, onEvents, { onState = () => {}, signal } = {}) {
  let last = after;
  let stopped = false;
  signal?.addEventListener("abort", () => {
    stopped = true;
  });

  async function once() {
    const extra = { Accept: "text/event-stream" };
    if (last !== null && last !== undefined) extra["Last-Event-ID"] = String(last);
    const response = await fetch("/admin/events/stream", { headers: headers(extra), signal, cache: "no-store" });
    if (!response.ok) throw await failure(response);
    onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const events = [];
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id = null;
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) id = Number(line.slice(4));
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (id !== null && data.length) {
          last = id;
          events.push(JSON.parse(data.join("\n")));
        }
      }
      if (events.length) onEvents(events);
    }
  }

  (async () => {
    let delay = 500;
    while (!stopped) {
      try {
        await once();
        delay = 500;
      } catch (error) {
        if (stopped) return;
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
          onState("refused", error.message);
          return;
        }
      }
      if (stopped) return;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10000);
    }
  })();
}
