// Small SVG charts drawn here (no chart library): a line chart for a few series over time.

const NS = "http://www.w3.org/2000/svg";
const W = 560;
const H = 180;
const PAD = { left: 48, right: 12, top: 12, bottom: 26 };

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function label(value, unit) {
  const text = value >= 1000 ? `${(value / 1000).toFixed(value >= 10000 ? 0 : 1)}k` : `${+value.toFixed(value < 1 && value > 0 ? 3 : 1)}`;
  return unit ? `${text} ${unit}` : text;
}

// series: [{name, values: [number|null], cls}]; labels: x labels (one per point).
export function lineChart({ title, unit = "", labels, series }) {
  const n = labels.length;
  const values = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const top = niceMax(Math.max(0, ...values));
  const x = (i) => PAD.left + (n <= 1 ? 0 : (i * (W - PAD.left - PAD.right)) / (n - 1));
  const y = (v) => PAD.top + (1 - v / top) * (H - PAD.top - PAD.bottom);
  const latest = series.map((s) => {
    const v = [...s.values].reverse().find((value) => value !== null && value !== undefined);
    return `${s.name} ${v === undefined ? "none" : label(v, unit)}`;
  });
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": `${title}, ${n} minutes; latest: ${latest.join(", ")}; peak ${label(Math.max(0, ...values), unit)}`,
    preserveAspectRatio: "none",
  });
  for (const fraction of [0, 0.5, 1]) {
    const v = top * fraction;
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: PAD.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, label(v, "")));
  }
  const ticks = n > 1 ? [0, Math.floor((n - 1) / 2), n - 1] : [0];
  for (const i of ticks) {
    const anchor = i === 0 ? "start" : i === n - 1 ? "end" : "middle";
    root.append(svg("text", { x: x(i), y: H - 6, class: "axis", "text-anchor": anchor }, labels[i] || ""));
  }
  series.forEach((s) => {
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    root.append(svg("path", { d: d || "M0,0", class: `line ${s.cls}` }));
    s.values.forEach((v, i) => {
      if (v === null || v === undefined || v === 0) return;
      root.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, class: `dot ${s.cls}` }, svg("title", {}, `${labels[i]} ${s.name}: ${label(v, unit)}`)));
    });
  });
  const legend = document.createElement("p");
  legend.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("span");
    item.className = `key ${s.cls}`;
    item.textContent = latest[i];
    legend.append(item);
  });
  const figure = document.createElement("figure");
  figure.className = "chart-box";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption, root, legend);
  return figure;
}

// A horizontal bar per item: [{name, value, cls}] (used for tool calls).
export function bars({ title, items, unit = "" }) {
  const top = niceMax(Math.max(1, ...items.map((i) => i.value)));
  const figure = document.createElement("figure");
  figure.className = "chart-box";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption);
  const list = document.createElement("ul");
  list.className = "bars";
  for (const item of items) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "bar-name";
    name.textContent = item.name;
    const track = svg("svg", { viewBox: "0 0 100 10", preserveAspectRatio: "none", class: "bar-track", "aria-hidden": "true" });
    track.append(svg("rect", { x: 0, y: 0, height: 10, width: Math.max(0.5, (item.value / top) * 100), class: `bar ${item.cls || ""}` }));
    const value = document.createElement("span");
    value.className = "bar-value";
    value.textContent = `${item.value}${unit}`;
    li.append(name, track, value);
    list.append(li);
  }
  figure.append(list);
  return figure;
}
