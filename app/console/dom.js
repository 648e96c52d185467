// Building the page from data without innerHTML: every value becomes a text node, so nothing
// read from the log (a prompt, a tool's output) can inject markup into the console.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function table(columns, rows, { empty = "Nothing yet.", label } = {}) {
  // columns: [{title, cell: row => Node|string, num?: bool}]
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": label || "table" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : "" }, c.title)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : "", "data-label": c.title }, c.cell(row)))),
        ),
      ),
    ),
  );
}

export function badge(text, kind = text) {
  return h("span", { class: `badge badge-${kind}` }, text);
}

export function ms(value) {
  if (value === null || value === undefined) return "–";
  if (value >= 10000) return `${(value / 1000).toFixed(1)} s`;
  if (value >= 100) return `${Math.round(value)} ms`;
  return `${value.toFixed(value >= 10 ? 1 : 2)} ms`;
}

export function num(value) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en-US");
}

export function when(text) {
  if (!text) return "–";
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function time(text) {
  if (!text) return "–";
  return text.slice(11, 19);
}

// A value from the log shown as text a person reads: objects as nested "key: value" lists,
// strings that hold JSON (tool arguments, results) parsed first.
export function readable(value, depth = 0) {
  if (typeof value === "string") {
    const trimmed = value.trim();
    if ((trimmed.startsWith("{") && trimmed.endsWith("}")) || (trimmed.startsWith("[") && trimmed.endsWith("]"))) {
      try {
        return readable(JSON.parse(trimmed), depth);
      } catch {
        /* plain text after all */
      }
    }
    return h("span", { class: "text" }, value);
  }
  if (value === null || value === undefined) return h("span", { class: "muted" }, "none");
  if (typeof value !== "object") return h("span", {}, String(value));
  if (depth > 6) return h("span", { class: "muted" }, "…");
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i + 1), v]) : Object.entries(value);
  if (!entries.length) return h("span", { class: "muted" }, "none");
  return h(
    "dl",
    { class: "kv" },
    entries.map(([k, v]) => [h("dt", {}, k), h("dd", {}, readable(v, depth + 1))]),
  );
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}
