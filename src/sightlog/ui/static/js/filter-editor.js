// The dialog that adds or edits one filter chip. Each kind of filter has a small form: build() makes its
// fields from the current state, read() turns the submitted form into a new state or an error message.

import { h, humanize } from "./dom.js";
import {
  DATA_FIELDS, EVENT_TYPES, FEEDBACK, LIST_OPS, NO_VALUE_OPS, OP_LABELS, PRESET_LABELS, SOURCE_LABELS, SOURCE_OPS,
  SOURCES, VALUE_OPS, VALUE_TYPES, withoutChip,
} from "./filters.js";

export const KINDS = {
  time: "Time range", types: "Event type", device: "Device", stream: "Stream", workflow: "Workflow",
  external: "External id", meta: "Custom metadata", data: "Event data field", class: "Detection class",
  feedback: "Feedback", warnings: "Warnings",
};

const splitList = (text) => String(text ?? "").split(",").map((v) => v.trim()).filter(Boolean);
const options = (values, selected, label = (v) => v) =>
  values.map((v) => h("option", { value: v, selected: v === selected }, label(v)));
const labelled = (text, control) => h("label", { class: "field" }, h("span", {}, text), control);
const checks = (name, values, checked, label = humanize) => h("div", { class: "checks" },
  values.map((v) => h("label", {}, h("input", { type: "checkbox", name, value: v, checked: checked.includes(v) }), label(v))));

/** "2025-11-20T10:00:00Z" → "2025-11-20T11:00" in the browser's zone, for <input type=datetime-local>. */
function toLocalInput(iso) {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
}

function timeForm(state) {
  const current = state.range ?? "custom";
  const radios = [...Object.keys(PRESET_LABELS), "custom"].map((v) => h("label", {},
    h("input", { type: "radio", name: "range", value: v, checked: v === current }), PRESET_LABELS[v] ?? "Custom range"));
  return {
    fields: [h("div", { class: "checks" }, radios),
      labelled("From", h("input", { type: "datetime-local", name: "from", value: state.from ? toLocalInput(state.from) : "" })),
      labelled("To", h("input", { type: "datetime-local", name: "to", value: state.to ? toLocalInput(state.to) : "" }))],
    read(form, next) {
      const range = form.get("range");
      if (range !== "custom") return Object.assign(next, { range, from: null, to: null });
      const iso = (v) => (v ? new Date(v).toISOString() : null);
      const [from, to] = [iso(form.get("from")), iso(form.get("to"))];
      if (!from && !to) return "Give a start, an end, or both.";
      if (from && to && from >= to) return "The start must come before the end.";
      return Object.assign(next, { range: null, from, to });
    },
  };
}

function sourceForm(state, name) {
  const current = state.sources[name] ?? { op: "eq", values: [] };
  return {
    fields: [labelled("Operator", h("select", { name: "op" }, options(SOURCE_OPS, current.op, (o) => OP_LABELS[o]))),
      labelled("Value (a comma-separated list for in / not in)", h("input", { name: "value", required: true,
        value: current.values.join(", "), autocomplete: "off" }))],
    read(form, next) {
      const op = form.get("op");
      const values = LIST_OPS.has(op) ? splitList(form.get("value")) : [String(form.get("value")).trim()];
      if (!values.length || !values[0]) return "Enter a value.";
      next.sources[name] = { op, values };
      return next;
    },
  };
}

function checkValues(op, type, values) {
  if (NO_VALUE_OPS.has(op)) return null;
  if (!values.length || values.some((v) => v === "")) return "Enter a value.";
  if (type === "number" && values.some((v) => !Number.isFinite(Number(v)))) return "Enter a number.";
  if (type === "boolean" && values.some((v) => v !== "true" && v !== "false")) return "Enter true or false.";
  if (op === "contains" && type !== "string") return "“contains” works on strings only.";
  if (type === "boolean" && ["gt", "gte", "lt", "lte"].includes(op)) return "Booleans are only equal or not.";
  return null;
}

function valueForm(state, kind, index, schemaFields) {
  const current = state[kind][index] ?? { field: "", op: "eq", type: "string", values: [] };
  const listId = `fields-${kind}`;
  const datalist = h("datalist", { id: listId });
  const fieldInput = h("input", { name: "field", list: listId, required: true, value: current.field, autocomplete: "off" });
  const typeSelect = h("select", { name: "type" }, options(VALUE_TYPES, current.type));
  const opSelect = h("select", { name: "op" }, options(VALUE_OPS, current.op, (o) => OP_LABELS[o]));
  const valueInput = h("input", { name: "value", value: current.values.join(", "), autocomplete: "off" });
  const valueField = labelled("Value (a comma-separated list for in / not in)", valueInput);
  let known = kind === "data" ? Object.fromEntries(Object.entries(DATA_FIELDS).map(([f, t]) => [f, [t]])) : {};
  const fill = () => datalist.replaceChildren(...Object.keys(known).sort().map((f) => h("option", { value: f }, known[f].join(", "))));
  fill();
  schemaFields?.then((fields) => { known = Object.fromEntries(Object.entries(fields).map(([f, v]) => [f, v.types])); fill(); });
  // Picking a known field sets the type it was seen with; operators without a value hide the value box.
  fieldInput.addEventListener("change", () => { if (known[fieldInput.value]) typeSelect.value = known[fieldInput.value][0]; });
  const toggleValue = () => { valueField.hidden = NO_VALUE_OPS.has(opSelect.value); };
  opSelect.addEventListener("change", toggleValue);
  toggleValue();
  return {
    fields: [labelled(kind === "meta" ? "Metadata field" : "eventData field", fieldInput), datalist,
      h("div", { class: "row" }, labelled("Operator", opSelect), labelled("Compare as", typeSelect)), valueField],
    read(form, next) {
      const [field, op, type] = ["field", "op", "type"].map((k) => String(form.get(k)).trim());
      if (!field) return "Enter a field name.";
      const raw = String(form.get("value") ?? "");
      const values = NO_VALUE_OPS.has(op) ? [] : LIST_OPS.has(op) ? splitList(raw) : [raw.trim()];
      const problem = checkValues(op, type, values);
      if (problem) return problem;
      next[kind].splice(index ?? next[kind].length, index === undefined ? 0 : 1, { field, op, type, values });
      return next;
    },
  };
}

function classForm(state, index, classNames) {
  const current = state.classes[index] ?? { name: "", min: 0.5 };
  const datalist = h("datalist", { id: "class-names" });
  classNames?.then((names) => datalist.replaceChildren(...names.map((n) => h("option", { value: n }))));
  const output = h("output", {}, current.min.toFixed(2));
  const slider = h("input", { type: "range", name: "min", min: 0, max: 1, step: 0.05, value: current.min,
    oninput: (e) => { output.textContent = Number(e.target.value).toFixed(2); } });
  return {
    fields: [labelled("Class", h("input", { name: "class", list: "class-names", required: true, value: current.name,
      autocomplete: "off" })), datalist, labelled("Minimum confidence", h("div", { class: "row" }, slider, output))],
    read(form, next) {
      const name = String(form.get("class")).trim();
      if (!name) return "Enter a class name.";
      next.classes.splice(index ?? next.classes.length, index === undefined ? 0 : 1, { name, min: Number(form.get("min")) });
      return next;
    },
  };
}

function listForm(values, checked, key, label) {
  return {
    fields: [checks(key, values, checked, label)],
    read(form, next) {
      const picked = form.getAll(key);
      if (!picked.length) return "Pick at least one.";
      next[key === "type" ? "types" : key] = picked;
      return next;
    },
  };
}

function warningsForm(state) {
  const radios = [["yes", "Has warnings"], ["no", "Has no warnings"]].map(([v, text]) => h("label", {},
    h("input", { type: "radio", name: "warnings", value: v, checked: (state.warnings ?? true) === (v === "yes") }), text));
  return {
    fields: [h("div", { class: "checks" }, radios)],
    read(form, next) { next.warnings = form.get("warnings") === "yes"; return next; },
  };
}

function formFor(kind, state, chip, loaders) {
  if (kind === "time") return timeForm(state);
  if (kind === "types") return listForm(EVENT_TYPES, state.types, "type", humanize);
  if (SOURCES[kind]) return sourceForm(state, kind);
  if (kind === "meta" || kind === "data") return valueForm(state, kind, chip?.index, kind === "meta" ? loaders.schema() : null);
  if (kind === "class") return classForm(state, chip?.index, loaders.classes());
  if (kind === "feedback") return listForm(FEEDBACK, state.feedback, "feedback", (v) => v);
  return warningsForm(state);
}

/**
 * Open the editor. ``chip`` edits that chip (and offers to remove it); without one a kind picker adds a new
 * filter. ``loaders.schema()`` / ``loaders.classes()`` return promises of suggestions. ``onApply(state)``.
 */
export function openFilterEditor({ state, chip = null, kind = "meta", loaders, onApply }) {
  const host = h("div", { class: "editor-fields" });
  const error = h("p", { class: "error-text", role: "alert" });
  let current = null;
  const show = (k) => {
    current = formFor(k, state, chip, loaders);
    host.replaceChildren(...current.fields);
    error.textContent = "";
    host.querySelector("input:not([type=radio]):not([type=checkbox]), select")?.focus();
  };
  const picker = chip ? null : h("select", { name: "kind", class: "kind", onchange: (e) => show(e.target.value) },
    Object.entries(KINDS).map(([k, text]) => h("option", { value: k, selected: k === kind }, text)));
  const form = h("form", { method: "dialog" },
    h("h2", {}, chip ? `Edit filter: ${SOURCE_LABELS[chip.kind] ?? KINDS[chip.kind]}` : "Add a filter"),
    picker ? labelled("Filter on", picker) : null, host, error,
    h("div", { class: "buttons" },
      chip ? h("button", { type: "button", class: "danger", onclick: () => { dialog.close(); onApply(withoutChip(state, chip)); } }, "Remove") : null,
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "ghost", onclick: () => dialog.close() }, "Cancel"),
      h("button", { type: "submit", class: "primary" }, "Apply")));
  const dialog = h("dialog", { class: "editor", id: "filter-editor" }, form);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const result = current.read(new FormData(form), structuredClone(state));
    if (typeof result === "string") {
      error.textContent = result;
      return;
    }
    dialog.close();
    onApply(result);
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  show(chip?.kind ?? kind);
}
