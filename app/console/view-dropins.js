// Drop-ins: failed ones first, each with its error and the line saying how to fix it; the
// loaded ones; and a rescan of the drop-in roots.

import { get, post } from "./api.js";
import { badge, clear, h, num, section, table, when } from "./dom.js";

export function mount(root, _args, ctx) {
  const rescan = h("button", { type: "button", id: "rescan" }, "Rescan drop-ins");
  const outcome = h("p", { id: "rescan-outcome", role: "status" });
  const failed = h("div", { id: "dropins-failed" }, h("p", { class: "muted" }, "Loading…"));
  const loaded = h("div", { id: "dropins-loaded" });
  const last = h("p", { id: "last-scan", class: "muted" });
  root.append(
    h("h2", { class: "view-title" }, "Drop-ins"),
    h("div", { class: "toolbar" }, rescan, outcome),
    last,
    section("Failed", failed),
    section("Loaded", loaded),
  );

  async function load(minPosition) {
    const report = await get("/admin/dropins", { min_position: minPosition });
    const scan = report.last_scan;
    last.textContent = scan
      ? `Last scan (${scan.reason}) ${when(scan.completed_at || scan.started_at)}: ${num(scan.loaded)} loaded, ${num(scan.failed)} failed, ${num(scan.unchanged)} unchanged.`
      : "No scan yet.";
    const bad = report.dropins.filter((d) => d.state === "failed");
    clear(
      failed,
      bad.length
        ? h(
            "ul",
            { class: "failures" },
            bad.map((d) =>
              h(
                "li",
                { class: "failure" },
                h("h3", {}, d.name, " ", badge(d.kind, "other"), " ", badge(d.error_type || "failed", "failed")),
                h("p", { class: "mono" }, d.path),
                h("p", {}, h("strong", {}, "Error: "), d.message || "–"),
                h("p", { class: "remedy" }, h("strong", {}, "How to fix: "), d.remediation || "–"),
                h("p", { class: "muted" }, `Failed ${num(d.failure_count)} time(s); first ${when(d.first_failed_at)}, last ${when(d.last_failed_at)}.`),
              ),
            ),
          )
        : h("p", { class: "ok" }, "No drop-in is failing."),
    );
    clear(
      loaded,
      table(
        [
          { title: "Name", cell: (d) => h("strong", {}, d.name) },
          { title: "Kind", cell: (d) => d.kind },
          { title: "State", cell: (d) => badge(d.state, d.state) },
          { title: "Entry point", cell: (d) => d.entrypoint || "–" },
          { title: "Tools", cell: (d) => d.tools.join(", ") || "–" },
          { title: "Path", cell: (d) => h("span", { class: "mono" }, d.path) },
          { title: "Loaded", cell: (d) => when(d.loaded_at) },
        ],
        report.dropins.filter((d) => d.state !== "failed"),
        { empty: "No drop-in is loaded.", label: "loaded drop-ins" },
      ),
    );
    ctx.setStatus(`${report.dropins.length} drop-in(s), ${bad.length} failed; updated ${new Date().toLocaleTimeString()}.`);
  }

  rescan.addEventListener("click", async () => {
    rescan.disabled = true;
    outcome.textContent = "Scanning…";
    try {
      const result = await post("/admin/discovery/scan");
      outcome.textContent = `Rescanned: ${result.loaded.length} loaded, ${result.failed.length} failed, ${result.unloaded.length} unloaded, ${result.unchanged} unchanged.`;
      const { log } = await get("/admin/metrics"); // the scan's events are in: wait for them
      await load(log.head);
    } catch (error) {
      ctx.failed(error, outcome);
    } finally {
      rescan.disabled = false;
    }
  });
  return ctx.every(10000, () => load());
}
