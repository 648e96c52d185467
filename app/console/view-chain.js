// The chain: the gateway's own check of the hash chain (as `ledgergate events verify`), and the
// latest signed checkpoint with its signature checked in this browser where WebCrypto can.

import { ApiError, get, getText } from "./api.js";
import { checkSignature, hex, parseCheckpoint } from "./audit.js";
import { badge, clear, h, ms, num, section, when } from "./dom.js";

export function mount(root, _args, ctx) {
  const status = h("div", { id: "chain-status" }, h("p", { class: "muted" }, "Loading…"));
  const verify = h("button", { type: "button", id: "verify-now" }, "Verify the whole chain now");
  const checkpoint = h("div", { id: "checkpoint" }, h("p", { class: "muted" }, "Loading…"));
  root.append(h("h2", { class: "view-title" }, "Chain"), section("Hash chain", status, verify), section("Latest checkpoint", checkpoint));

  function show(s) {
    const states = {
      ok: ["The chain verifies", "completed"],
      broken: ["The chain is BROKEN", "failed"],
      error: ["The check could not run", "failed"],
      unchecked: ["Not checked yet", "in_flight"],
    };
    const [text, kind] = states[s.state] || [s.state, "other"];
    const facts = [
      ["Verdict", badge(text, kind)],
      ["Events checked", num(s.events)],
      ["Log head now", num(s.head)],
      ["Checked at", when(s.checked_at)],
      ["Took", s.duration_ms === null ? "–" : ms(s.duration_ms)],
    ];
    if (s.bad_position !== null) facts.push(["First bad position", num(s.bad_position)]);
    if (s.reason) facts.push(["Why", s.reason]);
    if (s.checking) facts.push(["Now", "a check is running"]);
    clear(status, h("dl", { class: "facts", id: "chain-facts", "data-state": s.state }, facts.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))));
  }

  // Answers may come back out of order: show only the newest asked, and none of the periodic
  // ones while a full check the user asked for is running.
  let asked = 0;
  let shown = 0;
  let verifying = false;
  const fetchStatus = async (fresh) => {
    const mine = ++asked;
    const s = await get("/admin/chain", fresh ? { fresh: "true" } : {});
    if (mine < shown || (verifying && !fresh)) return;
    shown = mine;
    show(s);
  };

  verify.addEventListener("click", async () => {
    verify.disabled = true;
    verifying = true;
    clear(status, h("p", { id: "chain-facts", "data-state": "checking", class: "muted" }, "Checking the whole chain…"));
    try {
      await fetchStatus(true);
    } catch (error) {
      ctx.failed(error, status);
    } finally {
      verifying = false;
      verify.disabled = false;
    }
  });

  (async () => {
    let note;
    try {
      note = await getText("/audit/checkpoint");
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        clear(checkpoint, h("p", { class: "muted", id: "checkpoint-state" }, "Audit not available: this gateway signs no checkpoints."));
        return;
      }
      throw error;
    }
    const parsed = parseCheckpoint(note);
    if (!parsed) {
      clear(checkpoint, h("p", { class: "error" }, "The checkpoint is not a signed note."));
      return;
    }
    let vkey = null;
    try {
      vkey = await getText("/audit/key");
    } catch {
      /* shown below */
    }
    const signature = vkey ? await checkSignature(parsed, vkey) : { state: "unsupported", detail: "no verifier key" };
    const root64 = atob(parsed.rootB64);
    const rootHex = hex(Uint8Array.from(root64, (c) => c.charCodeAt(0)));
    clear(
      checkpoint,
      h(
        "dl",
        { class: "facts", id: "checkpoint-state" },
        [
          ["Log", parsed.origin],
          ["Tree size", num(parsed.treeSize)],
          ["Root hash", h("span", { class: "mono wrap" }, rootHex)],
          ["Signature", signature.state === "ok" ? badge(`verified: ${signature.detail}`, "completed") : signature.state === "unsupported" ? `not checked in this browser (${signature.detail})` : badge(signature.detail, "failed")],
          ["Verifier key", h("span", { class: "mono wrap" }, vkey ? vkey.trim() : "–")],
        ].map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))),
      ),
      h("details", {}, h("summary", {}, "The signed note"), h("pre", {}, note)),
    );
  })().catch((error) => ctx.failed(error, checkpoint));

  return ctx.every(10000, () => fetchStatus(false));
}
