// Keys: issue one (its secret is shown once, here, and never again), list, revoke.

import { del, get, post } from "./api.js";
import { badge, clear, h, section, table, when } from "./dom.js";

const globs = (text) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

export function mount(root, _args, ctx) {
  const field = (id, label, hint, attrs = {}) => h("div", {}, h("label", { for: id }, label), h("input", { id, name: id, ...attrs }), hint ? h("small", {}, hint) : null);
  const form = h(
    "form",
    { id: "key-form", class: "search", autocomplete: "off" },
    field("key-name", "Name", null, { required: true, maxlength: 200 }),
    field("key-agents", "Agents", "globs, comma-separated; empty allows none", { placeholder: "assistant, concierge" }),
    field("key-tools", "Tools", "globs", { placeholder: "get_time" }),
    field("key-models", "Upstream models", "globs", { placeholder: "gpt-4o*" }),
    h("div", {}, h("label", { class: "inline" }, h("input", { id: "key-admin", type: "checkbox" }), " admin (every right)")),
    h("button", { type: "submit" }, "Create key"),
  );
  const secret = h("div", { id: "key-secret", "aria-live": "assertive" });
  const list = h("div", { id: "key-list" }, h("p", { class: "muted" }, "Loading…"));
  root.append(h("h2", { class: "view-title" }, "Keys"), section("Create a key", form, secret), section("Issued keys", list));

  async function load() {
    const { data } = await get("/admin/keys");
    clear(
      list,
      table(
        [
          { title: "Id", cell: (k) => h("span", { class: "mono" }, k.id) },
          { title: "Name", cell: (k) => k.name },
          { title: "Rights", cell: (k) => (k.admin ? badge("admin", "admin") : `agents ${k.agents.join(", ") || "none"}; tools ${k.tools.join(", ") || "none"}; models ${k.models.join(", ") || "none"}`) },
          { title: "Created", cell: (k) => when(k.created_at) },
          { title: "State", cell: (k) => (k.revoked ? badge(`revoked ${when(k.revoked_at)}`, "failed") : badge("active", "completed")) },
          { title: "", cell: (k) => (k.revoked ? "" : revokeButton(k)) },
        ],
        data,
        { empty: "No key issued yet (the master key is not listed).", label: "keys" },
      ),
    );
    ctx.setStatus(`${data.length} key(s).`);
  }

  // Two steps instead of a blocking confirm() dialog: the first press asks, the second revokes.
  function revokeButton(key) {
    const button = h("button", { type: "button", class: "danger", "data-key": key.id }, `Revoke ${key.name}`);
    let armed = false;
    button.addEventListener("click", async () => {
      if (!armed) {
        armed = true;
        button.textContent = `Really revoke ${key.name}?`;
        return;
      }
      button.disabled = true;
      try {
        await del(`/admin/keys/${encodeURIComponent(key.id)}`);
        ctx.setStatus(`Key ${key.name} (${key.id}) revoked.`);
        await load();
      } catch (error) {
        ctx.failed(error);
        button.disabled = false;
      }
    });
    button.addEventListener("blur", () => {
      if (armed && !button.disabled) {
        armed = false;
        button.textContent = `Revoke ${key.name}`;
      }
    });
    return button;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: form.querySelector("#key-name").value.trim(),
      agents: globs(form.querySelector("#key-agents").value),
      tools: globs(form.querySelector("#key-tools").value),
      models: globs(form.querySelector("#key-models").value),
      admin: form.querySelector("#key-admin").checked,
    };
    try {
      const created = await post("/admin/keys", body);
      const value = h("input", { id: "new-key", class: "mono", readonly: true, value: created.key, "aria-label": "the new key" });
      const copy = h("button", { type: "button", class: "ghost" }, "Copy");
      copy.addEventListener("click", async () => {
        value.select();
        try {
          await navigator.clipboard.writeText(created.key);
          copy.textContent = "Copied";
        } catch {
          copy.textContent = "Select and copy by hand";
        }
      });
      const dismiss = h("button", { type: "button", class: "ghost" }, "I have stored it");
      dismiss.addEventListener("click", () => clear(secret));
      clear(
        secret,
        h(
          "div",
          { class: "secret" },
          h("p", {}, h("strong", {}, `Key ${created.name} (${created.id}) created. `), "This is the only time its secret is shown; the gateway keeps only its hash."),
          h("div", { class: "row" }, value, copy, dismiss),
        ),
      );
      form.reset();
      value.focus();
      value.select();
      await load();
    } catch (error) {
      ctx.failed(error, secret);
    }
  });
  load().catch((error) => ctx.failed(error, list));
}
