// Charts drawn as inline SVG (no library). Every chart has a text alternative (role="img" + aria-label)
// and a <title> per mark, so hovering shows the exact value.

import { h, s } from "./dom.js";

// Axis: a "nice" step (1, 2 or 5 times a power of ten) giving about five ticks, and the top of the axis.
function niceAxis(v, integers) {
  if (!(v > 0)) return { step: 1, top: 1, ticks: 1 };
  const raw = v / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * p).find((x) => x >= raw);
  if (integers) step = Math.max(1, step);
  const ticks = Math.max(1, Math.ceil(v / step - 1e-9));
  return { step, top: step * ticks, ticks };
}

function shortNum(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(1)}B`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

// barChart(points [{label, short, value, error}], {label, unit, max, height, width, class})
export function barChart(points, opts = {}) {
  const W = Math.max(240, opts.width || 640);
  const H = opts.height || 240;
  const pad = { l: 48, r: 12, t: 12, b: 28 };
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const axis = niceAxis(opts.max ?? Math.max(0, ...points.map((p) => p.value)), points.every((p) => Number.isInteger(p.value)));
  const max = axis.top;
  const n = Math.max(points.length, 1);
  const step = iw / n;
  const bw = Math.max(1, Math.min(step * 0.72, opts.maxBar || 36));
  const total = points.reduce((a, p) => a + p.value, 0);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: `chart ${opts.class || ""}`, role: "img",
    "aria-label": `${opts.label || "Bar chart"}: ${points.length} bars, total ${shortNum(total)}${opts.unit ? ` ${opts.unit}` : ""}` });
  for (let i = 0; i <= axis.ticks; i += 1) {
    const y = pad.t + ih - (ih * i) / axis.ticks;
    svg.append(s("line", { x1: pad.l, x2: W - pad.r, y1: y, y2: y, class: "grid" }));
    svg.append(s("text", { x: pad.l - 6, y: y + 4, class: "axis", "text-anchor": "end" }, shortNum(axis.step * i)));
  }
  const every = Math.ceil(n / Math.max(2, Math.floor(iw / 70)));
  points.forEach((p, i) => {
    const bh = max ? (ih * p.value) / max : 0;
    const x = pad.l + i * step + (step - bw) / 2;
    svg.append(s("rect", { x, y: pad.t + ih - bh, width: bw, height: Math.max(bh, 0), rx: Math.min(2, bw / 3),
      class: p.error ? "bar bar-error" : "bar" },
    s("title", `${p.label}: ${p.value.toLocaleString("en-US")}${opts.unit ? ` ${opts.unit}` : ""}`)));
    if (i % every === 0) {
      svg.append(s("text", { x: pad.l + i * step + step / 2, y: H - 8, class: "axis", "text-anchor": "middle" },
        p.short || p.label));
    }
  });
  return svg;
}

export function legend(items) {
  return h("ul.legend", items.map((it) => h("li", h(`span.swatch.${it.class}`, { "aria-hidden": "true" }), it.label)));
}

// A chart that is drawn at the pixel width of its box (so text keeps its size) and redrawn on resize.
export function fitted(draw) {
  const box = h("div.chart-box");
  let lastW = 0;
  const ro = new ResizeObserver(() => {
    const w = Math.round(box.clientWidth);
    if (w && Math.abs(w - lastW) > 4) {
      lastW = w;
      box.replaceChildren(draw(w));
    }
  });
  ro.observe(box);
  return box;
}
