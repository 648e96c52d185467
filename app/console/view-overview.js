// Overview: totals, and requests/s, latency p50/p95, errors and tokens per minute as charts.

import { get } from "./api.js";
import { lineChart } from "./charts.js";
import { clear, h, ms, num, section } from "./dom.js";

function stat(label, value, detail, href) {
  const body = [h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value), detail ? h("span", { class: "stat-detail" }, detail) : null];
  return href ? h("a", { class: "stat", href }, body) : h("div", { class: "stat" }, body);
}

const RANGES = [
  [15, "the last 15 minutes"],
  [60, "the last hour"],
  [360, "the last 6 hours"],
  [1440, "the last 24 hours"],
];
let chosen = 15; // kept while the tab lives

export function mount(root, _args, ctx) {
  const stats = h("div", { class: "stats", id: "overview-stats" }, h("p", { class: "muted" }, "Loading…"));
  const charts = h("div", { class: "charts", id: "overview-charts" });
  const range = h(
    "select",
    { id: "overview-range" },
    RANGES.map(([minutes, text]) => h("option", { value: minutes, selected: minutes === chosen }, text)),
  );
  const title = h("h2", {}, "Per minute, ", h("label", { for: "overview-range", class: "sr-only" }, "time range"), range);
  root.append(h("h2", { class: "view-title" }, "Overview"), stats, h("section", { class: "card" }, title, charts));

  const refresh = async () => {
    const [snapshot, series] = await Promise.all([get("/admin/metrics"), get("/admin/series", { minutes: chosen })]);
    const r = snapshot.requests;
    const errors = (r.by_status.failed || 0) + (r.by_status.interrupted || 0);
    const lag = Math.max(0, ...snapshot.projections.map((p) => p.lag));
    const failedDropins = snapshot.discovery.failed;
    clear(
      stats,
      stat("Requests", num(r.total), `${num(r.in_flight)} in flight`, "#requests"),
      stat("Errors", num(errors), `${num(r.by_status.cancelled || 0)} cancelled`, "#requests"),
      stat("Latency p50", ms(r.duration.p50_ms), `p99 ${ms(r.duration.p99_ms)}`),
      stat("Tokens", num(r.prompt_tokens + r.completion_tokens), `${num(r.prompt_tokens)} in, ${num(r.completion_tokens)} out`),
      stat("Drop-ins", `${num(snapshot.discovery.loaded)} loaded`, failedDropins ? `${failedDropins} failed` : "none failed", "#dropins"),
      stat("Log", `${num(snapshot.log.head)} events`, lag ? `read models ${num(lag)} behind` : "read models up to date", "#tail"),
    );
    if (failedDropins) stats.children[4].classList.add("alert");
    if (errors) stats.children[1].classList.add("alert");
    const points = series.points;
    const labels = points.map((p) => p.bucket.slice(11));
    clear(
      charts,
      lineChart({ title: "Requests per second", unit: "/s", labels, series: [{ name: "requests/s", values: points.map((p) => p.requests_per_s), cls: "s1" }] }),
      lineChart({
        title: "Latency of completed requests",
        unit: "ms",
        labels,
        series: [
          { name: "p50", values: points.map((p) => p.p50_ms), cls: "s1" },
          { name: "p95", values: points.map((p) => p.p95_ms), cls: "s2" },
        ],
      }),
      lineChart({ title: "Errors per minute", labels, series: [{ name: "errors", values: points.map((p) => p.errors), cls: "s3" }] }),
      lineChart({
        title: "Tokens per minute",
        labels,
        series: [
          { name: "prompt", values: points.map((p) => p.prompt_tokens), cls: "s1" },
          { name: "completion", values: points.map((p) => p.completion_tokens), cls: "s2" },
        ],
      }),
    );
    ctx.setStatus(`Overview at log position ${num(snapshot.log.head)}; updated ${new Date().toLocaleTimeString()}.`);
  };
  range.addEventListener("change", () => {
    chosen = Number(range.value);
    refresh().catch((error) => ctx.failed(error));
  });
  return ctx.every(5000, refresh);
}
