// The explorer's filter state: parsed from and written to the page URL (so a view can be bookmarked and
// shared), turned into the body of POST /vision-events/query, /count and /aggregate, and shown as chips.
//
// URL grammar (repeated keys are how lists are written):
//   range=24h | from=<iso>&to=<iso>      type=quality_check           feedback=incorrect     warnings=yes|no
//   device.eq=cam-1  (also stream., workflow., external.; ops eq neq in nin contains)
//   meta.<field>.<op>.<type>=<value>     data.<field>.<op>.<type>=<value>     class.<name>=<min confidence>
//   sort=asc                              (view=list, chart=class, live=1 are view settings, not filters)

import { fmtShortTime, humanize } from "./dom.js";

export const EVENT_TYPES = ["quality_check", "inventory_count", "safety_alert", "custom", "operator_feedback"];
export const SOURCES = { device: "deviceId", stream: "streamId", workflow: "workflowId", external: "externalId" };
export const SOURCE_LABELS = { device: "Device", stream: "Stream", workflow: "Workflow", external: "External id" };
export const SOURCE_OPS = ["eq", "neq", "in", "nin", "contains"];
export const VALUE_OPS = ["eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "contains", "exists", "not_exists"];
export const VALUE_TYPES = ["string", "number", "boolean"];
export const FEEDBACK = ["correct", "incorrect", "inconclusive", "none"];
const PRESETS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
export const PRESET_LABELS = { "1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days" };
export const OP_LABELS = {
  eq: "=", neq: "≠", gt: ">", gte: "≥", lt: "<", lte: "≤", in: "in", nin: "not in",
  contains: "contains", exists: "exists", not_exists: "is missing",
};
export const LIST_OPS = new Set(["in", "nin"]);
export const NO_VALUE_OPS = new Set(["exists", "not_exists"]);
// eventData fields of the built-in types (SPEC §3.3), offered when adding an event-data filter.
export const DATA_FIELDS = {
  result: "string", confidence: "number", externalId: "string", itemCount: "number", location: "string",
  itemType: "string", alertType: "string", severity: "string", description: "string", value: "string",
  relatedEventId: "string", feedback: "string", comment: "string",
};
const VIEW_KEYS = new Set(["view", "chart", "live"]);

function emptyState() {
  return {
    range: null, from: null, to: null, types: [], sources: {}, meta: [], data: [], classes: [],
    feedback: [], warnings: null, sort: "desc",
  };
}

const clamp01 = (x) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);

function grouped(params) {
  const groups = new Map();
  for (const [key, value] of params) {
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(value);
  }
  return groups;
}

/** meta.<field>.<op>.<type> (the field may itself hold dots). */
function parseValueKey(key) {
  const parts = key.split(".");
  if (parts.length < 4) return null;
  const [type, op] = [parts.at(-1), parts.at(-2)];
  const field = parts.slice(1, -2).join(".");
  if (!VALUE_TYPES.includes(type) || !VALUE_OPS.includes(op) || !field) return null;
  return { field, op, type };
}

function valueFilters({ field, op, type }, values) {
  if (NO_VALUE_OPS.has(op)) return [{ field, op, type, values: [] }];
  if (LIST_OPS.has(op)) return [{ field, op, type, values }];
  return values.map((v) => ({ field, op, type, values: [v] })); // the same key twice: both must hold
}

export function parseState(params) {
  const state = emptyState();
  for (const [key, values] of grouped(params)) {
    const [head, ...rest] = key.split(".");
    if (key === "range" && PRESETS[values[0]]) state.range = values[0];
    else if (key === "from" || key === "to") state[key] = values[0];
    else if (key === "type") state.types = values.filter((v) => EVENT_TYPES.includes(v));
    else if (key === "feedback") state.feedback = values.filter((v) => FEEDBACK.includes(v));
    else if (key === "warnings") state.warnings = { yes: true, no: false }[values[0]] ?? null;
    else if (key === "sort") state.sort = values[0] === "asc" ? "asc" : "desc";
    else if (head === "class" && rest.length) {
      for (const v of values) state.classes.push({ name: rest.join("."), min: clamp01(parseFloat(v)) });
    } else if (SOURCES[head] && SOURCE_OPS.includes(rest.join("."))) {
      const op = rest.join(".");
      state.sources[head] = { op, values: LIST_OPS.has(op) ? values : [values[0]] };
    } else if (head === "meta" || head === "data") {
      const parsed = parseValueKey(key);
      if (parsed) state[head].push(...valueFilters(parsed, values));
    }
  }
  if (state.range) state.from = state.to = null;
  return state;
}

/** The URL query string of a filter state plus view settings (which are kept from ``view``). */
export function toParams(state, view = new URLSearchParams()) {
  const params = new URLSearchParams();
  if (state.range) params.set("range", state.range);
  if (state.from) params.set("from", state.from);
  if (state.to) params.set("to", state.to);
  for (const t of state.types) params.append("type", t);
  for (const [name, f] of Object.entries(state.sources)) for (const v of f.values) params.append(`${name}.${f.op}`, v);
  for (const prefix of ["meta", "data"]) {
    for (const f of state[prefix]) {
      const key = `${prefix}.${f.field}.${f.op}.${f.type}`;
      if (NO_VALUE_OPS.has(f.op)) params.append(key, "");
      for (const v of f.values) params.append(key, v);
    }
  }
  for (const c of state.classes) params.append(`class.${c.name}`, String(c.min));
  for (const f of state.feedback) params.append("feedback", f);
  if (state.warnings !== null) params.set("warnings", state.warnings ? "yes" : "no");
  if (state.sort === "asc") params.set("sort", "asc");
  for (const [key, value] of view) if (VIEW_KEYS.has(key)) params.set(key, value);
  return params;
}

function typed(value, type) {
  if (type === "number") return Number(value);
  if (type === "boolean") return value === "true";
  return value;
}

/** The time window a state asks for, in ms since the epoch (null ends are open). */
export function timeWindow(state, now = Date.now()) {
  if (state.range) return { start: now - PRESETS[state.range], end: null };
  const ms = (iso) => (iso && !Number.isNaN(Date.parse(iso)) ? Date.parse(iso) : null);
  return { start: ms(state.from), end: ms(state.to) };
}

/** The filter part of a query/count/aggregate body. */
export function toQuery(state, useCaseId) {
  const body = { useCaseId };
  const { start, end } = timeWindow(state);
  if (start !== null) body.startTime = new Date(start).toISOString();
  if (end !== null) body.endTime = new Date(end).toISOString();
  if (state.types.length) body.eventTypes = state.types;
  for (const [name, f] of Object.entries(state.sources)) {
    body[SOURCES[name]] = { operator: f.op, value: LIST_OPS.has(f.op) ? f.values : f.values[0] };
  }
  const valueFilter = (f) => {
    const out = { field: f.field, operator: f.op, type: f.type };
    if (!NO_VALUE_OPS.has(f.op)) {
      const values = f.values.map((v) => typed(v, f.type));
      out.value = LIST_OPS.has(f.op) ? values : values[0];
    }
    return out;
  };
  if (state.meta.length) body.customMetadataFilters = state.meta.map(valueFilter);
  if (state.data.length) body.eventFieldFilters = state.data.map(valueFilter);
  if (state.classes.length) body.detectionFilters = state.classes.map((c) => ({ class: c.name, minConfidence: c.min }));
  if (state.feedback.length) body.feedback = state.feedback;
  if (state.warnings !== null) body.hasWarnings = state.warnings;
  return body;
}

const valueText = (f) => (NO_VALUE_OPS.has(f.op) ? "" : ` ${f.values.join(", ")}`);

/** The chips of a state: {kind, index, tag, text}; kind and index name the part the chip edits. */
export function chips(state) {
  const out = [];
  if (state.range) out.push({ kind: "time", tag: "time", text: PRESET_LABELS[state.range] });
  else if (state.from || state.to) {
    const text = `${state.from ? fmtShortTime(state.from) : "…"} → ${state.to ? fmtShortTime(state.to) : "now"}`;
    out.push({ kind: "time", tag: "time", text });
  }
  if (state.types.length) out.push({ kind: "types", tag: "type", text: state.types.map(humanize).join(", ") });
  for (const [name, f] of Object.entries(state.sources)) {
    out.push({ kind: name, tag: SOURCE_LABELS[name].toLowerCase(), text: `${OP_LABELS[f.op]} ${f.values.join(", ")}` });
  }
  state.meta.forEach((f, index) => out.push({ kind: "meta", index, tag: "metadata", text: `${f.field} ${OP_LABELS[f.op]}${valueText(f)}` }));
  state.data.forEach((f, index) => out.push({ kind: "data", index, tag: "event data", text: `${f.field} ${OP_LABELS[f.op]}${valueText(f)}` }));
  state.classes.forEach((c, index) => out.push({ kind: "class", index, tag: "class", text: `${c.name} ≥ ${c.min.toFixed(2)}` }));
  if (state.feedback.length) out.push({ kind: "feedback", tag: "feedback", text: state.feedback.join(", ") });
  if (state.warnings !== null) out.push({ kind: "warnings", tag: "warnings", text: state.warnings ? "has warnings" : "no warnings" });
  return out;
}

/** A copy of the state without the part a chip shows. */
export function withoutChip(state, chip) {
  const next = structuredClone(state);
  if (chip.kind === "time") next.range = next.from = next.to = null;
  else if (chip.kind === "types") next.types = [];
  else if (SOURCES[chip.kind]) delete next.sources[chip.kind];
  else if (chip.kind === "meta" || chip.kind === "data") next[chip.kind].splice(chip.index, 1);
  else if (chip.kind === "class") next.classes.splice(chip.index, 1);
  else if (chip.kind === "feedback") next.feedback = [];
  else if (chip.kind === "warnings") next.warnings = null;
  return next;
}

/** The JSON type name of a metadata or eventData value, as the filters compare it. */
const typeOf = (value) => (typeof value === "boolean" ? "boolean" : typeof value === "number" ? "number" : "string");

/** A copy of the state that also requires ``field = value`` (clicked in the detail view). */
export function withEquals(state, kind, field, value) {
  const next = structuredClone(state);
  if (SOURCES[kind]) next.sources[kind] = { op: "eq", values: [String(value)] };
  else {
    next[kind] = next[kind].filter((f) => !(f.field === field && f.op === "eq"));
    next[kind].push({ field, op: "eq", type: typeOf(value), values: [String(value)] });
  }
  return next;
}
