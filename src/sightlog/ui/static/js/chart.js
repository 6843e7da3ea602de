// Events over time as stacked SVG bars, from POST /vision-events/aggregate buckets. Drawn in CSS pixels at
// the container's width (and again when it resizes) so text never stretches.

import { colorFor, fmtCount, h, humanize, s, swatch } from "./dom.js";

const STEP_MS = { minute: 60e3, hour: 3600e3, day: 86400e3, week: 7 * 86400e3 };
const MAX_SERIES = 8;
const MARGIN = { top: 8, right: 8, bottom: 22, left: 46 };

/** The bucket size that gives a readable number of bars over a span of ``ms``. */
export function intervalFor(ms) {
  if (ms <= 3 * 3600e3) return "minute";
  if (ms <= 4 * 86400e3) return "hour";
  if (ms <= 150 * 86400e3) return "day";
  return "week";
}

/** ``t`` moved by ``n`` buckets; days and weeks by the local calendar, which the buckets follow. */
function advance(t, interval, n) {
  if (interval !== "day" && interval !== "week") return t + n * STEP_MS[interval];
  const d = new Date(t);
  d.setDate(d.getDate() + n * (interval === "week" ? 7 : 1));
  return d.getTime();
}

function niceCeil(n) {
  if (n <= 5) return Math.max(1, Math.ceil(n));
  const power = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= n);
}

function tickLabel(ms, interval, spanMs) {
  const d = new Date(ms);
  if (interval === "day" || interval === "week") return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return spanMs > 86400e3 ? `${d.toLocaleDateString(undefined, { weekday: "short" })} ${time}` : time;
}

/** Series (group keys) by total, the smallest folded into "other" so the legend stays short. */
function seriesOf(buckets, label) {
  const totals = new Map();
  for (const b of buckets) totals.set(label(b), (totals.get(label(b)) ?? 0) + b.count);
  const ranked = [...totals].sort((a, b) => b[1] - a[1]);
  const kept = new Set(ranked.slice(0, MAX_SERIES - 1).map(([k]) => k));
  if (ranked.length === MAX_SERIES) kept.add(ranked.at(-1)[0]);
  const name = (b) => (kept.has(label(b)) ? label(b) : "other");
  const order = [...kept, ...(ranked.length > kept.size ? ["other"] : [])];
  const sums = new Map(order.map((k) => [k, 0]));
  for (const b of buckets) sums.set(name(b), sums.get(name(b)) + b.count);
  return { name, order, sums };
}

/**
 * Draw into ``container``. Options: by ("eventType" | "class"), interval, start/end (ms, optional: the
 * buckets' extent otherwise), onPick(startMs, endMs) when a bar is clicked, onLegend(key) for a legend item.
 * Returns a function that stops following the container's size.
 */
export function drawChart(container, buckets, { by, interval, start, end, onPick, onLegend }) {
  const label = (b) => (b.key[by] === null || b.key[by] === undefined ? "(none)" : String(b.key[by]));
  const { name, order, sums } = seriesOf(buckets, label);
  const step = STEP_MS[interval];
  const stacks = new Map(); // bucket start (ms) → [[series, count]]
  for (const b of buckets) {
    const t = Date.parse(b.time);
    if (!stacks.has(t)) stacks.set(t, new Map());
    const stack = stacks.get(t);
    stack.set(name(b), (stack.get(name(b)) ?? 0) + b.count);
  }
  const times = [...stacks.keys()];
  // The axis covers the asked window and every bucket (the first local bucket may start before it).
  const x1 = Math.max(end ?? -Infinity, ...times.map((t) => t + step), times.length ? -Infinity : Date.now());
  const x0 = Math.min(start ?? Infinity, ...times, x1 - step);
  const maxTotal = Math.max(1, ...[...stacks.values()].map((st) => [...st.values()].reduce((a, c) => a + c, 0)));

  const legend = h("div", { class: "legend" }, order.map((key) => h("button", {
    type: "button", class: "legend-item", title: key === "other" ? "" : `Filter by ${key}`,
    disabled: key === "other" || key === "(none)", onclick: () => onLegend?.(key),
  }, swatch(key), `${humanize(key)} `, h("span", { class: "muted" }, fmtCount(sums.get(key))))));

  const draw = () => {
    const width = Math.max(240, container.clientWidth);
    const height = Math.round(parseFloat(getComputedStyle(container).fontSize) * 9);
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = height - MARGIN.top - MARGIN.bottom;
    const xAt = (t) => MARGIN.left + ((t - x0) / (x1 - x0)) * plotW;
    const top = niceCeil(maxTotal);
    const yAt = (n) => MARGIN.top + plotH - (n / top) * plotH;
    const svg = s("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": "Events over time" });
    for (const frac of [0, 0.5, 1]) {
      const y = yAt(top * frac);
      svg.append(s("line", { class: "grid", x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y }),
        s("text", { class: "axis", x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" }, fmtCount(Math.round(top * frac))));
    }
    // Ticks sit on bucket starts, every few buckets, so each label names the bar it stands under.
    const every = Math.max(1, Math.ceil((x1 - x0) / step / Math.max(2, Math.floor(plotW / 110))));
    let t = times.length ? Math.min(...times) : x0;
    while (advance(t, interval, -every) >= x0) t = advance(t, interval, -every);
    for (; t < x1; t = advance(t, interval, every)) {
      if (xAt(t) > width - MARGIN.right - 30) break;
      svg.append(s("text", { class: "axis", x: xAt(t), y: height - 6 }, tickLabel(t, interval, x1 - x0)));
    }
    const barW = Math.max(1, (step / (x1 - x0)) * plotW - 1);
    for (const [t, stack] of stacks) {
      const bar = s("g", { class: "bar", onclick: () => onPick?.(t, t + step) });
      let base = 0;
      const lines = [];
      for (const key of order) {
        const n = stack.get(key);
        if (!n) continue;
        bar.append(s("rect", { x: xAt(t), y: yAt(base + n), width: barW, height: Math.max(0.5, yAt(base) - yAt(base + n)),
          fill: colorFor(key) }));
        base += n;
        lines.push(`${humanize(key)}: ${fmtCount(n)}`);
      }
      bar.prepend(s("title", {}, `${new Date(t).toLocaleString()} — ${fmtCount(base)} events\n${lines.join("\n")}`));
      svg.append(bar);
    }
    container.replaceChildren(svg, legend);
  };
  draw();
  const observer = new ResizeObserver(() => {
    if (container.querySelector("svg")?.getAttribute("width") !== String(Math.max(240, container.clientWidth))) draw();
  });
  observer.observe(container);
  return () => observer.disconnect();
}
