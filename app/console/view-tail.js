// Live tail: the log's events as they commit, read from GET /admin/events/stream.

import { get, tail } from "./api.js";
import { badge, h, num, time } from "./dom.js";

const KEEP = 300;

function gist(e) {
  const d = e.data;
  switch (e.type) {
    case "request.received":
      return `${d.model} from key ${d.key_id}${d.stream ? ", streamed" : ""}`;
    case "acl.decided":
      return `${d.decision} ${d.action} ${d.resource}`;
    case "upstream.call_started":
      return `call ${d.hop} to ${d.model}`;
    case "upstream.call_completed":
      return `call ${d.hop}: ${d.finish_reason || "done"}`;
    case "upstream.call_failed":
      return `call ${d.hop}: ${d.error_type}`;
    case "tool.invoked":
      return `${d.tool} (${d.source})`;
    case "tool.completed":
    case "tool.failed":
      return `${d.tool}: ${d.outcome || "ok"}`;
    case "stream.delta":
      return d.delta?.content ? `“${d.delta.content}”` : d.finish_reason ? `finish ${d.finish_reason}` : "chunk";
    case "request.completed":
      return `${d.model}: ${d.finish_reason}`;
    case "request.failed":
      return `${d.status} ${d.error_type}`;
    case "discovery.agent_loaded":
    case "discovery.dropin_failed":
      return `${d.name} (${d.path})`;
    case "key.issued":
    case "key.revoked":
      return d.name ? `${d.name} (${d.key_id})` : d.key_id;
    default:
      return "";
  }
}

function kindOf(e) {
  if (e.type === "acl.decided") return e.data.decision;
  if (e.type.endsWith("failed")) return "failed";
  return e.type.split(".")[0];
}

export function mount(root, _args, ctx) {
  const state = h("span", { id: "tail-state", class: "badge" }, "connecting");
  const pause = h("button", { type: "button", class: "ghost", "aria-pressed": "false" }, "Pause");
  const filter = h("input", { id: "tail-filter", type: "search", placeholder: "type or stream, e.g. tool." });
  const hideDeltas = h("input", { id: "tail-deltas", type: "checkbox", checked: true });
  const body = h("tbody", { id: "tail-rows" });
  root.append(
    h("h2", { class: "view-title" }, "Live tail ", state),
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "tail-filter" }, "Filter"),
      filter,
      h("label", { class: "inline" }, hideDeltas, " hide stream chunks"),
      pause,
    ),
    h(
      "div",
      { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "live events" },
      h("table", { class: "tail" }, h("thead", {}, h("tr", {}, ["Position", "Time", "Type", "Stream", "What"].map((t) => h("th", { scope: "col" }, t)))), body),
    ),
  );
  let paused = false;
  let held = [];
  let seen = 0;
  const visible = (e) => {
    if (hideDeltas.checked && e.type === "stream.delta") return false;
    const needle = filter.value.trim();
    return !needle || e.type.includes(needle) || e.stream.includes(needle);
  };
  const row = (e) => {
    const request = e.stream.startsWith("request:") ? e.stream.slice(8) : null;
    const tr = h(
      "tr",
      { "data-type": e.type, "data-stream": e.stream },
      h("td", { class: "num mono" }, String(e.position)),
      h("td", {}, time(e.recorded_at)),
      h("td", {}, badge(e.type, kindOf(e))),
      h("td", { class: "mono" }, request ? h("a", { href: `#requests/${encodeURIComponent(request)}` }, e.stream) : e.stream),
      h("td", {}, gist(e)),
    );
    tr.hidden = !visible(e);
    tr.event = e;
    return tr;
  };
  const show = (events) => {
    seen += events.length;
    body.prepend(...events.reverse().map(row));
    while (body.children.length > KEEP) body.lastElementChild.remove();
    ctx.setStatus(`Live tail: ${num(seen)} event(s) received, last position ${events[0].position}.`);
  };
  const refilter = () => {
    for (const tr of body.children) tr.hidden = !visible(tr.event);
  };
  filter.addEventListener("input", refilter);
  hideDeltas.addEventListener("change", refilter);
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused && held.length) {
      show(held);
      held = [];
    }
  });

  const stop = new AbortController();
  (async () => {
    // Start with the last 50 events, then follow (the chain status carries the head and
    // answers auditors too).
    const { head } = await get("/admin/chain");
    if (stop.signal.aborted) return;
    tail(
      Math.max(0, head - 50),
      (events) => {
        if (paused) held.push(...events);
        else show(events);
      },
      {
        signal: stop.signal,
        onState: (s, message) => {
          state.textContent = s;
          state.className = `badge badge-${s}`;
          if (message) ctx.setStatus(`Live tail refused: ${message}`);
        },
      },
    );
  })().catch((error) => ctx.failed(error));
  return () => stop.abort();
}
