// Tools: calls, errors, denials and latency per tool, and by source (gateway / sdk) and agent.

import { get } from "./api.js";
import { bars } from "./charts.js";
import { badge, clear, h, ms, num, section, table } from "./dom.js";

export function mount(root, _args, ctx) {
  const chart = h("div", { id: "tools-chart" });
  const totals = h("div", { id: "tools-totals" }, h("p", { class: "muted" }, "Loading…"));
  const breakdown = h("div", { id: "tools-breakdown" });
  root.append(
    h("h2", { class: "view-title" }, "Tools"),
    section("Calls per tool", chart),
    section("Per tool", totals),
    section("By tool, agent and source", breakdown),
  );
  return ctx.every(5000, async () => {
    const report = await get("/admin/tools");
    clear(
      chart,
      report.totals.length
        ? bars({ title: "Calls (errors and denials in the tables below)", items: report.totals.map((t) => ({ name: t.tool, value: t.calls, cls: t.errors + t.denials ? "warn" : "" })) })
        : h("p", { class: "empty" }, "No tool has been called yet."),
    );
    const mix = (counts) =>
      Object.entries(counts)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "–";
    clear(
      totals,
      table(
        [
          { title: "Tool", cell: (t) => h("strong", {}, t.tool) },
          { title: "Calls", cell: (t) => num(t.calls), num: true },
          { title: "OK", cell: (t) => num(t.ok), num: true },
          { title: "Errors", cell: (t) => (t.errors ? badge(num(t.errors), "failed") : "0"), num: true },
          { title: "Denied", cell: (t) => (t.denials ? badge(num(t.denials), "deny") : "0"), num: true },
          { title: "Timeouts", cell: (t) => num(t.timeouts), num: true },
          { title: "By source", cell: (t) => mix(t.by_source) },
          { title: "By agent", cell: (t) => mix(t.by_agent) },
        ],
        report.totals,
        { empty: "No tool has been called yet.", label: "tools" },
      ),
    );
    clear(
      breakdown,
      table(
        [
          { title: "Tool", cell: (t) => t.tool },
          { title: "Agent", cell: (t) => t.agent || "–" },
          { title: "Source", cell: (t) => badge(t.source, t.source) },
          { title: "Calls", cell: (t) => num(t.calls), num: true },
          { title: "Errors", cell: (t) => num(t.errors), num: true },
          { title: "Denied", cell: (t) => num(t.denials), num: true },
          { title: "p50", cell: (t) => ms(t.duration.p50_ms), num: true },
          { title: "p90", cell: (t) => ms(t.duration.p90_ms), num: true },
          { title: "p99", cell: (t) => ms(t.duration.p99_ms), num: true },
        ],
        report.breakdown,
        { empty: "No tool has been called yet.", label: "tool breakdown" },
      ),
    );
    ctx.setStatus(`${report.totals.length} tool(s); updated ${new Date().toLocaleTimeString()}.`);
  });
}
