// Requests: search (id, model, key, status), a table newest first, and one request's replay
// as a timeline of its events with its audit bundle's verification.

import { ApiError, get, getText } from "./api.js";
import { verifyBundle } from "./audit.js";
import { badge, clear, h, ms, num, readable, section, table, time, when } from "./dom.js";

const STATUSES = ["", "completed", "failed", "cancelled", "interrupted", "in_flight"];
const search = { model: "", key_id: "", status: "" }; // kept while the tab lives

export function mount(root, args, ctx) {
  if (args[0]) return replayView(root, args[0], ctx);
  return listView(root, ctx);
}

function listView(root, ctx) {
  const field = (id, label, value, attrs = {}) => [h("label", { for: id }, label), h("input", { id, name: id, value, ...attrs })];
  const form = h(
    "form",
    { class: "search", id: "request-search", role: "search" },
    h("div", {}, field("search-id", "Request id", "", { placeholder: "chatcmpl-…", spellcheck: "false" })),
    h("div", {}, field("search-model", "Model", search.model, { list: "known-models" })),
    h("div", {}, field("search-key", "Key id", search.key_id, { list: "known-keys" })),
    h(
      "div",
      {},
      h("label", { for: "search-status" }, "Status"),
      h("select", { id: "search-status" }, STATUSES.map((s) => h("option", { value: s, selected: s === search.status }, s ? s.replace("_", " ") : "any"))),
    ),
    h("button", { type: "submit" }, "Search"),
    h("datalist", { id: "known-models" }),
    h("datalist", { id: "known-keys" }),
  );
  const results = h("div", { id: "request-results" }, h("p", { class: "muted" }, "Loading…"));
  const more = h("button", { type: "button", class: "ghost", hidden: true }, "Older requests");
  root.append(h("h2", { class: "view-title" }, "Requests"), section("Find a request", form), section("Newest first", results, more));

  let pages = [];
  let cursor = null;
  let asked = 0; // a refresh answered after a newer search must not overwrite it
  async function load(reset) {
    const params = { limit: 50, model: search.model, key_id: search.key_id, status: search.status };
    if (!reset && cursor) params.before = cursor;
    const mine = ++asked;
    const page = await get("/admin/requests", params);
    if (mine !== asked) return;
    pages = reset ? page.requests : pages.concat(page.requests);
    cursor = page.next_before;
    more.hidden = cursor === null;
    clear(results, requestsTable(pages));
    ctx.setStatus(`${pages.length} request(s) shown; updated ${new Date().toLocaleTimeString()}.`);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = form.querySelector("#search-id").value.trim();
    if (id) {
      ctx.navigate(`#requests/${encodeURIComponent(id)}`);
      return;
    }
    search.model = form.querySelector("#search-model").value.trim();
    search.key_id = form.querySelector("#search-key").value.trim();
    search.status = form.querySelector("#search-status").value;
    load(true).catch((e) => ctx.failed(e, results));
  });
  more.addEventListener("click", () => load(false).catch((e) => ctx.failed(e, results)));
  get("/admin/metrics")
    .then((snapshot) => {
      clear(form.querySelector("#known-models"), snapshot.requests.by_model.map((m) => h("option", { value: m.model })));
      clear(form.querySelector("#known-keys"), snapshot.requests.by_key.map((k) => h("option", { value: k.key_id })));
    })
    .catch(() => {});
  // Refresh the first page while nobody pages back through older ones.
  return ctx.every(5000, () => (pages.length <= 50 ? load(true) : Promise.resolve()));
}

function requestsTable(rows) {
  return table(
    [
      { title: "Received", cell: (r) => time(r.received_at) },
      { title: "Request", cell: (r) => h("a", { href: `#requests/${encodeURIComponent(r.request_id)}`, class: "mono" }, r.request_id) },
      { title: "Model", cell: (r) => r.model },
      { title: "Key", cell: (r) => r.key_id },
      { title: "Status", cell: (r) => badge(r.status.replace("_", " "), r.status) },
      { title: "Duration", cell: (r) => (r.status === "in_flight" ? "–" : ms(r.duration_ms)), num: true },
      { title: "Tokens", cell: (r) => num(r.prompt_tokens + r.completion_tokens), num: true },
      { title: "Tools", cell: (r) => num(r.tool_calls), num: true },
      { title: "Denied", cell: (r) => (r.acl_denials ? badge(String(r.acl_denials), "failed") : "0"), num: true },
    ],
    rows,
    { empty: "No request matches.", label: "requests" },
  );
}

async function allEvents(requestId) {
  const events = [];
  let after = 0;
  for (;;) {
    const page = await get("/admin/events", { stream: `request:${requestId}`, after, limit: 1000 });
    events.push(...page.events);
    if (page.next_after === null) return events;
    after = page.next_after;
  }
}

function replayView(root, requestId, ctx) {
  const head = h("div", { id: "replay-head" }, h("p", { class: "muted" }, "Loading…"));
  const audit = h("div", { id: "replay-audit" }, h("p", { class: "muted" }, "Checking the audit bundle…"));
  const timeline = h("ol", { class: "timeline", id: "replay-timeline" });
  root.append(
    h("p", {}, h("a", { href: "#requests" }, "← All requests")),
    h("h2", { class: "view-title" }, "Request ", h("span", { class: "mono" }, requestId)),
    head,
    section("Audit bundle", audit),
    section("What happened, in order", timeline),
  );
  let live = true;
  (async () => {
    try {
      const [replay, events] = await Promise.all([get(`/admin/requests/${encodeURIComponent(requestId)}`), allEvents(requestId)]);
      if (!live) return;
      clear(head, summary(replay));
      clear(timeline, steps(events, replay));
      ctx.setStatus(`Request ${requestId}: ${events.length} events, positions ${replay.first_position}–${replay.last_position}.`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        clear(head, h("p", { class: "error", role: "alert" }, `No request '${requestId}' in the log.`));
        clear(audit);
        return;
      }
      ctx.failed(error, head);
    }
  })();
  checkAudit(requestId, audit).catch((error) => clear(audit, h("p", { class: "error" }, `The audit check failed: ${error.message}`)));
  return () => {
    live = false;
  };
}

function summary(r) {
  const t = r.terminal || {};
  const duration = t.duration_us !== undefined ? ms(t.duration_us / 1000) : "–";
  const usage = r.usage ? `${num(r.usage.prompt_tokens)} in, ${num(r.usage.completion_tokens)} out` : "–";
  const facts = [
    ["Status", badge(r.status.replace("_", " "), r.status)],
    ["Model", `${r.model} (${r.target})`],
    ["Key", r.key_id],
    ["Received", when(r.received_at)],
    ["Duration", duration],
    ["Tokens", usage],
    ["Streamed", r.stream ? "yes" : "no"],
    ["Log positions", `${r.first_position}–${r.last_position} (${r.events} events)`],
  ];
  return h("dl", { class: "facts" }, facts.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
}

function messages(body) {
  const list = Array.isArray(body.messages) ? body.messages : [];
  const other = Object.fromEntries(Object.entries(body).filter(([k]) => !["messages", "model"].includes(k)));
  return [
    h(
      "ol",
      { class: "messages" },
      list.map((m) =>
        h("li", { class: `msg msg-${m.role}` }, h("span", { class: "role" }, m.role), m.content === undefined || m.content === null ? readable(m.tool_calls || m) : readable(m.content)),
      ),
    ),
    Object.keys(other).length ? h("details", {}, h("summary", {}, "Other request options"), readable(other)) : null,
  ];
}

function answer(message) {
  if (!message) return h("p", { class: "muted" }, "No answer.");
  const calls = message.tool_calls || [];
  return [
    message.content ? h("p", { class: "answer" }, message.content) : null,
    calls.map((c) => h("div", { class: "call" }, h("strong", {}, `calls ${c.function.name}`), readable(c.function.arguments))),
  ];
}

// Events of one request often share a commit (and so a recorded_at): order is the position.
function step(kind, title, position, ...body) {
  return h(
    "li",
    { class: `step step-${kind}` },
    h("div", { class: "step-head" }, h("span", { class: "step-title" }, title), h("span", { class: "step-meta" }, `#${position}`)),
    body.length ? h("div", { class: "step-body" }, body) : null,
  );
}

function steps(events, replay) {
  const out = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const d = e.data;
    switch (e.type) {
      case "request.received":
        out.push(step("input", `Request received: ${d.model}${d.stream ? ", streamed" : ""}`, e.position, messages(d.body || {})));
        break;
      case "acl.decided":
        out.push(step(d.decision === "allow" ? "allow" : "deny", `Access ${d.decision === "allow" ? "allowed" : "denied"}: ${d.action.replace("_", " ")} ${d.resource}`, e.position, h("p", { class: "muted" }, `rule ${d.rule}${d.agent ? `, agent ${d.agent}` : ""}`)));
        break;
      case "upstream.call_started":
        out.push(step("upstream", `Upstream call ${d.hop}: ${d.model} at ${d.upstream}`, e.position));
        break;
      case "upstream.call_completed":
        out.push(step("upstream", `Upstream answered (call ${d.hop}) in ${ms(d.duration_us / 1000)}: ${d.finish_reason || "done"}, ${num(d.prompt_tokens)} + ${num(d.completion_tokens)} tokens`, e.position));
        break;
      case "upstream.call_failed":
        out.push(step("deny", `Upstream call ${d.hop} failed: ${d.error_type}${d.status ? ` (${d.status})` : ""}`, e.position, h("p", {}, d.message)));
        break;
      case "tool.invoked":
        out.push(step("tool", `Tool call ${d.tool} (${d.source}${d.agent ? `, agent ${d.agent}` : ""})`, e.position, h("p", { class: "label" }, "Arguments"), readable(d.arguments)));
        break;
      case "tool.completed":
        out.push(step("tool", `Tool ${d.tool} returned in ${ms(d.duration_us / 1000)}`, e.position, h("p", { class: "label" }, "Result"), readable(d.result)));
        break;
      case "tool.failed":
        out.push(step("deny", `Tool ${d.tool} ${d.outcome}: ${d.error_type}`, e.position, h("p", {}, d.message)));
        break;
      case "stream.delta": {
        let j = i;
        let text = "";
        while (j < events.length && events[j].type === "stream.delta") {
          text += events[j].data.delta?.content || "";
          j++;
        }
        out.push(step("stream", `Streamed ${j - i} chunk(s) to the client`, e.position, text ? h("details", {}, h("summary", {}, "Streamed text"), h("p", { class: "answer" }, text)) : null));
        i = j - 1;
        break;
      }
      case "request.completed":
        out.push(step("answer", `Answered in ${ms(d.duration_us / 1000)}: ${d.finish_reason}, ${num(d.prompt_tokens)} + ${num(d.completion_tokens)} tokens`, e.position, answer(replay.answer)));
        break;
      case "request.failed":
        out.push(step("deny", `Failed with ${d.status}: ${d.error_type}${d.code ? ` (${d.code})` : ""}`, e.position, h("p", {}, d.message)));
        break;
      case "request.cancelled":
      case "request.interrupted":
        out.push(step("deny", `${e.type === "request.cancelled" ? "Cancelled" : "Interrupted"}: ${d.reason.replaceAll("_", " ")}`, e.position));
        break;
      default:
        out.push(step("other", e.type, e.position, readable(d)));
    }
  }
  return out;
}

async function checkAudit(requestId, box) {
  let bundle;
  try {
    bundle = await get(`/audit/requests/${encodeURIComponent(requestId)}/bundle`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      clear(box, h("p", { class: "muted", id: "audit-state" }, "Audit not available: this gateway has no audit bundle for this request."));
      return;
    }
    throw error;
  }
  let vkey = null;
  try {
    vkey = await getText("/audit/key");
  } catch {
    /* checked without the signature */
  }
  const checks = await verifyBundle(bundle, vkey, requestId);
  const bad = checks.some((c) => c.state === "fail");
  clear(
    box,
    h("p", { id: "audit-state", class: bad ? "error" : "ok" }, bad ? "The audit bundle does NOT verify." : "The audit bundle verifies (checked in this browser)."),
    h("ul", { class: "checks" }, checks.map((c) => h("li", { class: `check check-${c.state}` }, h("strong", {}, `${c.label}: `), c.state === "unsupported" ? `not checked here (${c.detail})` : c.detail))),
  );
}
