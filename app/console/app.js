// The console's shell: sign-in, the hash router (#overview, #requests/<id>, …), and the
// refresh loop every view uses. Each view is a module exporting mount(root, args, ctx) that
// returns a function stopping whatever it started.

import { ApiError, forgetKey, get, getKey, setKey } from "./api.js";
import { h } from "./dom.js";
import * as chain from "./view-chain.js";
import * as dropins from "./view-dropins.js";
import * as keys from "./view-keys.js";
import * as overview from "./view-overview.js";
import * as requests from "./view-requests.js";
import * as tail from "./view-tail.js";
import * as tools from "./view-tools.js";

const VIEWS = { overview, requests, tail, tools, dropins, keys, chain };
// An auditor key may read requests, replays, the log and the audit routes, nothing else.
const ADMIN_ONLY = new Set(["overview", "tools", "dropins", "keys"]);
const $ = (id) => document.getElementById(id);
let stopView = null;
let who = null; // GET /admin/whoami: {key_id, name, admin, auditor}, asked once per page

function setStatus(text) {
  $("status").textContent = text;
}

// Run fn now and again `ms` after each run ends, while the view is shown and the tab visible.
function every(ms, fn) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    timer = null;
    if (stopped) return;
    if (!document.hidden) {
      try {
        await fn();
      } catch (error) {
        failed(error);
      }
    }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

function failed(error, where) {
  if (error instanceof ApiError && error.status === 401) {
    forgetKey();
    showLogin("The gateway no longer accepts this key. Paste a valid key.");
    return;
  }
  const message = error instanceof ApiError && error.status === 403 ? `This needs an admin key: ${error.message}` : error.message || String(error);
  setStatus(`Error: ${message}`);
  if (where) where.replaceChildren(h("p", { class: "error", role: "alert" }, message));
}

function showLogin(message = "") {
  if (stopView) stopView();
  stopView = null;
  who = null;
  $("view").replaceChildren();
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  setStatus("Not signed in.");
  $("key").focus();
}

async function route() {
  if (!getKey()) {
    showLogin($("login-error").textContent);
    return;
  }
  if (!who) {
    try {
      who = await get("/admin/whoami");
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        forgetKey();
        showLogin("This key may not use the console: it needs admin or auditor rights.");
      } else failed(error);
      return;
    }
  }
  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = false;
  for (const link of document.querySelectorAll("#nav a")) link.hidden = !who.admin && ADMIN_ONLY.has(link.dataset.view);
  const [name, ...rest] = location.hash.replace(/^#/, "").split("/");
  const allowed = (v) => VIEWS[v] && (who.admin || !ADMIN_ONLY.has(v));
  const view = allowed(name) ? name : who.admin ? "overview" : "requests";
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (stopView) stopView();
  const root = $("view");
  root.replaceChildren();
  document.title = `${document.querySelector(`#nav a[data-view="${view}"]`).textContent} · Ledgergate console`;
  const ctx = { every, failed, setStatus, navigate: (hash) => (location.hash = hash), who };
  stopView = VIEWS[view].mount(root, rest.map(decodeURIComponent), ctx) || null;
}

async function signIn(event) {
  event.preventDefault();
  const key = $("key").value.trim();
  if (!key) return;
  setKey(key);
  try {
    who = await get("/admin/whoami"); // admin and auditor keys may; it says which
  } catch (error) {
    forgetKey();
    $("login-error").textContent =
      error instanceof ApiError && error.status === 401
        ? "The gateway does not know this key."
        : error instanceof ApiError && error.status === 403
          ? "This key may not use the console: it needs admin or auditor rights."
          : `The gateway could not be reached: ${error.message}`;
    $("key").select();
    return;
  }
  $("key").value = "";
  $("login-error").textContent = "";
  setStatus(`Signed in as ${who.name} (${who.admin ? "admin" : "auditor"}).`);
  await route();
  $("main").focus();
}

function start() {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", () => {
    forgetKey();
    showLogin("Key forgotten.");
  });
  // Keyboard: after choosing a view from the menu, land in it.
  $("nav").addEventListener("click", (event) => {
    if (event.target.closest("a") && event.detail === 0) setTimeout(() => $("main").focus(), 0);
  });
  window.addEventListener("hashchange", route);
  route();
}

start();
