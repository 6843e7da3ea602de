// Tiny DOM helpers. Every piece of text goes in through text nodes or attributes, never innerHTML, so event
// data (ids, metadata, comments) can never inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

function nodes(children) {
  return children
    .flat(Infinity)
    .filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c)));
}

/** An HTML element: h("a", {href: "/ui/", class: "brand"}, "Sightlog"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  el.append(...nodes(children));
  return el;
}

/** An SVG element, like h(). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  el.append(...nodes(children));
  return el;
}

const counts = new Intl.NumberFormat();
const stamps = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const shortStamps = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export const fmtCount = (n) => counts.format(n);
export const fmtTime = (iso) => (iso ? stamps.format(new Date(iso)) : "—");
export const fmtShortTime = (iso) => (iso ? shortStamps.format(new Date(iso)) : "—");

/** "5 minutes ago", "yesterday", … for an ISO instant. */
export function fmtAgo(iso) {
  if (!iso) return "never";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [[60, "second"], [3600, "minute"], [86400, "hour"], [604800, "day"], [2629800, "week"],
    [31557600, "month"], [Infinity, "year"]];
  let unit = 1;
  for (const [limit, name] of steps) {
    if (Math.abs(seconds) < limit) return relative.format(Math.round(seconds / unit), name);
    unit = limit;
  }
  return fmtTime(iso);
}

/** "quality_check" → "quality check". */
export const humanize = (name) => String(name).replaceAll("_", " ");

const FIXED_COLORS = {
  quality_check: "#4aa8ff", inventory_count: "#3ecf8e", safety_alert: "#ff7a45", custom: "#b48cff",
  operator_feedback: "#f2b84b", correct: "#3ecf8e", incorrect: "#ff5d5d", inconclusive: "#f2b84b",
};

/** A stable colour per name (class, event type): fixed for the built-in names, else spread by a hash. */
export function colorFor(name) {
  if (FIXED_COLORS[name]) return FIXED_COLORS[name];
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${(hash * 137.508) % 360} 80% 58%)`;
}

/** A small square of a name's colour (set through the CSSOM, which the page's CSP allows). */
export function swatch(name) {
  const el = h("span", { class: "swatch" });
  el.style.background = colorFor(name);
  return el;
}

let toastTimer = null;
/** A short message at the bottom of the screen (errors stay longer). */
export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = message;
  box.className = `toast show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => box.classList.remove("show"), kind === "error" ? 6000 : 2500);
}
