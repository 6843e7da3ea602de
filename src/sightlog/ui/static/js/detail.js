// One event: its image large with the predictions drawn over it, every stored field, feedback, downloads,
// and previous / next within the explorer's filters (← → keys; Esc goes back to the results).

import { annotatedPath, getEvent, giveFeedback, neighbours, rememberEvents, rememberedEvent } from "./api.js";
import { fmtTime, h, humanize, swatch, toast } from "./dom.js";
import { detailPath, explorerPath, FEEDBACK_MARKS, summary } from "./events.js";
import { parseState, toParams, toQuery, withEquals } from "./filters.js";
import { drawOverlay, predictionsOf } from "./overlay.js";

const FEEDBACK_CHOICES = ["correct", "incorrect", "inconclusive"];

const kv = (rows) => h("dl", { class: "kv" }, rows.filter(([, v]) => v !== null && v !== undefined)
  .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
const section = (heading, ...body) => h("section", { class: "card side-card" }, h("h2", {}, heading), ...body);
const fileSafe = (text) => String(text).replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80);

function preload(event) {
  rememberEvents([event]);
  const image = event.images?.[event.displayImagePosition ?? 0];
  const url = image?.inputUrl ?? image?.url;
  if (url) new Image().src = url;
}

export async function renderDetail(main, { useCaseId, eventId, params, ctx }) {
  const state = parseState(params);
  const search = params.toString();
  const back = `${explorerPath(useCaseId)}${search ? `?${search}` : ""}`;
  const { signal } = ctx;
  const crumbs = [{ label: "Use cases", href: "/ui/" }, { label: "Results", href: back }];
  ctx.setTitle(eventId, crumbs);

  const prevButton = h("button", { type: "button", id: "prev-event", disabled: true, title: "Previous (←)" }, "‹ Previous");
  const nextButton = h("button", { type: "button", id: "next-event", disabled: true, title: "Next (→)" }, "Next ›");
  const stage = h("div", { class: "stage", id: "stage" });
  const controls = h("div", { class: "controls", id: "controls" });
  const side = h("div", { class: "side", id: "side" });
  main.append(h("section", { class: "page detail" },
    h("div", { class: "page-head" },
      h("a", { href: back, "data-nav": true, class: "button ghost", id: "back" }, "← Results"),
      h("h1", { class: "event-id" }, eventId), h("span", { class: "spacer" }), prevButton, nextButton),
    h("div", { class: "detail-grid" }, h("div", { class: "stage-col" }, stage, controls), side)));

  let event = rememberedEvent(eventId);
  try {
    event ??= await getEvent(eventId, signal);
  } catch (err) {
    if (err.name === "AbortError") return () => {};
    stage.replaceChildren(h("div", { class: "empty" }, err.status === 404 ? "No such event in this workspace." : err.message));
    return () => {};
  }
  ctx.setTitle(`${humanize(event.eventType)} · ${eventId}`, crumbs);

  const view = {
    index: event.images?.[event.displayImagePosition ?? 0] ? event.displayImagePosition ?? 0 : 0,
    source: "input", overlay: true, labels: true, minConfidence: 0, hidden: new Set(),
  };
  const image = () => event.images?.[view.index] ?? null;
  // The image asked for, or the other one when this image lacks it.
  const sourceShown = () => {
    const img = image();
    if (view.source === "input") return img?.inputUrl ? "input" : "display";
    return img?.url ? "display" : "input";
  };
  const addFilter = (kind, field, value) =>
    ctx.navigate(`${explorerPath(useCaseId)}?${toParams(withEquals(state, kind, field, value), params)}`);
  const valueButton = (kind, field, value) => h("button", {
    type: "button", class: "value-link", title: "Show the events with this value",
    dataset: { field, kind }, onclick: () => addFilter(kind, field, value),
  }, String(value));

  function drawStage() {
    const img = image();
    if (!img) {
      stage.replaceChildren(h("div", { class: "no-image" }, "This event has no image."));
      return;
    }
    const url = sourceShown() === "input" ? img.inputUrl : img.url;
    if (!url) {
      stage.replaceChildren(h("div", { class: "no-image" }, "The image is missing (its upload is unknown)."));
      return;
    }
    const photo = h("img", { class: "photo", src: url, alt: img.label ?? "event image" });
    const layers = [photo];
    if (view.overlay && img.width && img.height) layers.push(drawOverlay(img, view));
    stage.replaceChildren(...layers);
  }

  function drawControls() {
    const img = image();
    const parts = [];
    if ((event.images?.length ?? 0) > 1) {
      parts.push(h("div", { class: "segmented", role: "group", "aria-label": "Image" }, event.images.map((im, i) =>
        h("button", { type: "button", "aria-pressed": String(i === view.index),
          onclick: () => { view.index = i; view.hidden.clear(); redraw(); } }, im.label ?? `Image ${i + 1}`))));
    }
    if (img) {
      const source = (value, text, available) => h("button", { type: "button", id: `source-${value}`,
        "aria-pressed": String(sourceShown() === value), disabled: !available,
        onclick: () => { view.source = value; redraw(); } }, text);
      parts.push(h("div", { class: "segmented", role: "group", "aria-label": "Which image" },
        source("input", "Input image", Boolean(img.inputUrl)), source("display", "Display image", Boolean(img.url))));
      const toggle = (key, text) => h("label", { class: "switch" }, h("input", { type: "checkbox", id: `toggle-${key}`,
        checked: view[key], onchange: (e) => { view[key] = e.target.checked; drawStage(); } }), text);
      parts.push(toggle("overlay", "Predictions"), toggle("labels", "Labels"));
      const output = h("output", {}, view.minConfidence.toFixed(2));
      parts.push(h("label", { class: "slider" }, "Min confidence ", h("input", {
        type: "range", id: "min-confidence", min: 0, max: 1, step: 0.01, value: view.minConfidence,
        oninput: (e) => { view.minConfidence = Number(e.target.value); output.textContent = view.minConfidence.toFixed(2); drawStage(); },
      }), output));
      const counts = new Map();
      for (const p of predictionsOf(img)) counts.set(p.cls, (counts.get(p.cls) ?? 0) + 1);
      if (counts.size) {
        parts.push(h("div", { class: "class-toggles", id: "class-toggles" }, [...counts].sort().map(([cls, n]) =>
          h("label", { class: "class-toggle" }, h("input", { type: "checkbox", checked: !view.hidden.has(cls), dataset: { class: cls },
            onchange: (e) => { if (e.target.checked) view.hidden.delete(cls); else view.hidden.add(cls); drawStage(); } }),
          swatch(cls), `${cls} `, h("span", { class: "muted" }, `×${n}`)))));
      }
    }
    controls.replaceChildren(...parts);
  }

  function feedbackSection() {
    const status = event.feedback?.status ?? null;
    const comment = h("textarea", { id: "feedback-comment", rows: 2, maxlength: 10000, placeholder: "Comment (optional)" });
    const send = async (choice, buttons) => {
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await giveFeedback(event.eventId, choice, comment.value.trim());
        event = await getEvent(event.eventId, signal);
        rememberEvents([event]);
        toast(`Marked as ${choice}.`);
      } catch (err) {
        if (err.name !== "AbortError") toast(err.message, "error");
      }
      drawSide();
    };
    const buttons = FEEDBACK_CHOICES.map((choice) => h("button", { type: "button", class: `fb fb-${choice}`,
      dataset: { feedback: choice }, "aria-pressed": String(status === choice) }, `${FEEDBACK_MARKS[choice]} ${choice}`));
    buttons.forEach((b) => b.addEventListener("click", () => send(b.dataset.feedback, buttons)));
    return section("Feedback",
      h("p", { id: "feedback-status", class: status ? `mark fb-${status}` : "muted" },
        status ? `${FEEDBACK_MARKS[status]} ${status}` : "Not reviewed yet"),
      ctx.canWrite ? [h("div", { class: "feedback-buttons" }, buttons), comment] : null);
  }

  function drawSide() {
    const { text, tone } = summary(event);
    const data = event.eventData ?? {};
    const meta = event.customMetadata ?? {};
    const img = image();
    const sources = [["deviceId", "device"], ["streamId", "stream"], ["workflowId", "workflow"]]
      .filter(([field]) => event[field]).map(([field, kind]) => [field, valueButton(kind, field, event[field])]);
    const dataRows = Object.entries(data).map(([k, v]) => [k,
      k === "relatedEventId" ? h("a", { href: detailPath(useCaseId, v, search), "data-nav": true }, v) : valueButton("data", k, v)]);
    side.replaceChildren(...[
      section("Event",
        h("p", {}, h("span", { class: `badge type-${event.eventType}` }, humanize(event.eventType)), " ",
          h("span", { class: `badge tone-${tone}` }, text)),
        kv([["Time", h("time", { datetime: event.timestamp, title: event.timestamp }, fmtTime(event.timestamp))],
          ["Received", fmtTime(event.receivedAt)], ["Use case", event.useCaseId], ...sources])),
      feedbackSection(),
      dataRows.length ? section("Event data", kv(dataRows)) : null,
      Object.keys(meta).length ? section("Custom metadata", kv(Object.entries(meta).map(([k, v]) => [k, valueButton("meta", k, v)]))) : null,
      event.warnings?.length ? section("Warnings", h("ul", { class: "warnings" }, event.warnings.map((w) => h("li", {}, w)))) : null,
      img ? section("Download", h("div", { class: "downloads" },
        img.url ? h("a", { href: img.url, download: true, class: "button ghost", id: "download-display" }, "Display image") : null,
        img.inputUrl ? h("a", { href: img.inputUrl, download: true, class: "button ghost", id: "download-input" }, "Input image") : null,
        h("a", { href: annotatedPath(event.eventId, view.index), download: `${fileSafe(event.eventId)}-annotated.jpg`,
          class: "button ghost", id: "download-annotated" }, "Annotated JPEG"))) : null,
      h("details", { class: "card side-card raw" }, h("summary", {}, "Raw JSON"),
        h("pre", { id: "raw-json" }, JSON.stringify(event, null, 2)))].filter(Boolean));
  }

  function redraw() {
    drawStage();
    drawControls();
    drawSide();
  }
  redraw();

  // -- previous / next under the explorer's filters -------------------------------------------------
  let around = { previous: null, next: null };
  const open = (id) => { if (id) ctx.navigate(detailPath(useCaseId, id, search), { replace: true }); };
  prevButton.addEventListener("click", () => open(around.previous));
  nextButton.addEventListener("click", () => open(around.next));
  neighbours({ ...toQuery(state, useCaseId), sort: state.sort, eventId }, signal).then((found) => {
    around = found;
    prevButton.disabled = !found.previous;
    nextButton.disabled = !found.next;
    // Fetch the neighbours now, so stepping to them shows at once.
    for (const id of [found.previous, found.next]) {
      if (id && !rememberedEvent(id)) getEvent(id, signal).then(preload).catch(() => {});
    }
  }).catch((err) => { if (err.name !== "AbortError") toast(err.message, "error"); });

  const onKey = (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || document.querySelector("dialog[open]")) return;
    if (e.target.closest?.("input, textarea, select")) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (e.key === "ArrowLeft") open(around.previous);
    else if (e.key === "ArrowRight") open(around.next);
    else if (e.key === "Escape") ctx.navigate(back);
    else return;
    e.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
