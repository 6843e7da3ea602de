// The explorer of one use case: filter chips, total count, events-over-time chart, a grid or list of events
// paged by cursor as the page scrolls, and a live mode that polls for new events.

import { aggregate, countEvents, listUseCases, metadataSchema, queryEvents, rememberEvents, rememberedEvent } from "./api.js";
import { drawChart, intervalFor } from "./chart.js";
import { fmtCount, fmtShortTime, fmtTime, h, humanize, swatch, toast } from "./dom.js";
import { detailPath, explorerPath, FEEDBACK_MARKS, mainImage, summary, thumbnailOf } from "./events.js";
import { openFilterEditor } from "./filter-editor.js";
import { chips, parseState, timeWindow, toParams, toQuery, withoutChip } from "./filters.js";
import { classCounts, drawOverlay } from "./overlay.js";

const PAGE_SIZE = 60;
const LIVE_MS = 5000;
const CHART_EVERY = 6; // live polls per chart refresh
const RESTORE_MS = 5 * 60e3; // how long "back" may show the results it left instead of asking again
const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

let saved = null; // the last explorer left: {key, events, cursor, hasMore, chart, scrollY, at}
const names = new Map(); // use case id → name
const schemas = new Map(); // use case id → promise of the inferred metadata schema
const classLists = new Map(); // use case id → promise of class names seen, most frequent first

async function useCaseName(id, signal) {
  if (!names.has(id)) {
    const { useCases } = await listUseCases("all", signal);
    for (const uc of useCases) names.set(uc.id, uc.name);
  }
  return names.get(id) ?? null;
}

function loaders(useCaseId) {
  return {
    schema() {
      if (!schemas.has(useCaseId)) schemas.set(useCaseId, metadataSchema(useCaseId).then((r) => r.fields).catch(() => ({})));
      return schemas.get(useCaseId);
    },
    classes() {
      if (!classLists.has(useCaseId)) {
        const asked = aggregate({ useCaseId, groupBy: ["class"], interval: null })
          .then(({ buckets }) => buckets.filter((b) => b.key.class !== null).sort((a, b) => b.count - a.count).map((b) => b.key.class))
          .catch(() => []);
        classLists.set(useCaseId, asked);
      }
      return classLists.get(useCaseId);
    },
  };
}

function tile(event, href) {
  const image = mainImage(event);
  const thumb = thumbnailOf(image);
  const frame = h("div", { class: "frame" });
  if (thumb) {
    frame.append(h("img", { src: thumb, alt: "", loading: "lazy", decoding: "async" }));
    if (image.width && image.height) frame.append(drawOverlay(image, { labels: false }));
  } else {
    frame.append(h("span", { class: "no-image" }, humanize(event.eventType)));
  }
  const { text, tone } = summary(event);
  const status = event.feedback?.status;
  return h("a", { class: "tile", href, "data-nav": true, dataset: { eventId: event.eventId } }, frame,
    h("div", { class: "caption" },
      h("span", { class: `badge tone-${tone}`, title: text }, text),
      status ? h("span", { class: `mark fb-${status}`, title: `feedback: ${status}` }, FEEDBACK_MARKS[status]) : null,
      event.warnings?.length ? h("span", { class: "mark warn", title: event.warnings.join("\n") }, "!") : null),
    h("div", { class: "caption muted small" },
      h("time", { datetime: event.timestamp, title: fmtTime(event.timestamp) }, fmtShortTime(event.timestamp)),
      h("span", { class: "source" }, event.deviceId ?? event.streamId ?? event.eventId)));
}

function listRow(event, href, open) {
  const image = mainImage(event);
  const thumb = thumbnailOf(image);
  const { text, tone } = summary(event);
  const classes = Object.entries(classCounts(event)).sort((a, b) => b[1] - a[1]).slice(0, 4);
  const status = event.feedback?.status;
  const tr = h("tr", { class: "clickable", dataset: { eventId: event.eventId }, onclick: (e) => {
    if (!e.target.closest("a")) open(href);
  } },
  h("td", { class: "mini" }, thumb ? h("img", { src: thumb, alt: "", loading: "lazy" }) : null),
  h("td", {}, h("a", { href, "data-nav": true }, h("time", { datetime: event.timestamp }, fmtTime(event.timestamp)))),
  h("td", {}, h("span", { class: `badge type-${event.eventType}` }, humanize(event.eventType))),
  h("td", {}, h("span", { class: `badge tone-${tone}` }, text)),
  h("td", {}, event.deviceId ?? "—"),
  h("td", { class: "classes" }, classes.map(([cls, n]) => h("span", { class: "cls" }, swatch(cls), n > 1 ? `${cls} ×${n}` : cls))),
  h("td", {}, status ? h("span", { class: `mark fb-${status}` }, `${FEEDBACK_MARKS[status]} ${status}`) : "—"),
  h("td", {}, event.warnings?.length ? h("span", { class: "mark warn", title: event.warnings.join("\n") }, `! ${event.warnings.length}`) : ""));
  return tr;
}

export async function renderExplorer(main, { useCaseId, params, ctx }) {
  const state = parseState(params);
  const viewParams = new URLSearchParams(params);
  const listView = params.get("view") === "list";
  const chartBy = params.get("chart") === "class" ? "class" : "eventType";
  const live = params.get("live") === "1";
  const filterKey = `${useCaseId}?${toParams(state)}`;
  const search = params.toString();
  const { signal } = ctx;
  const base = toQuery(state, useCaseId); // relative time ranges are fixed here, so pages line up

  const go = (nextState, { replace = false } = {}) =>
    ctx.navigate(`${explorerPath(useCaseId)}?${toParams(nextState, viewParams)}`, { replace });
  const setView = (key, value) => {
    const next = new URLSearchParams(params);
    if (value === null) next.delete(key); else next.set(key, value);
    ctx.navigate(`${explorerPath(useCaseId)}?${next}`, { replace: true });
  };
  const hrefOf = (event) => detailPath(useCaseId, event.eventId, search);
  const edit = (chip, kind) => openFilterEditor({ state, chip, kind, loaders: loaders(useCaseId), onApply: (next) => go(next) });

  // -- the page skeleton, shown at once -------------------------------------------------------------
  const title = h("h1", {}, useCaseId);
  const countEl = h("span", { class: "count", id: "event-count" }, "…");
  const chipBar = h("div", { class: "chips", id: "chips" },
    chips(state).map((chip) => h("span", { class: "chip", dataset: { kind: chip.kind } },
      h("button", { type: "button", class: "chip-edit", onclick: () => edit(chip) },
        h("span", { class: "chip-tag" }, chip.tag), chip.text),
      h("button", { type: "button", class: "chip-remove", title: "Remove this filter", "aria-label": "Remove filter",
        onclick: () => go(withoutChip(state, chip)) }, "×"))),
    h("button", { type: "button", class: "add-filter", id: "add-filter", onclick: () => edit(null, "meta") }, "+ Add filter"));
  const sortSelect = h("select", { id: "sort", "aria-label": "Order",
    onchange: (e) => go({ ...state, sort: e.target.value }, { replace: true }) },
  h("option", { value: "desc", selected: state.sort === "desc" }, "Newest first"),
  h("option", { value: "asc", selected: state.sort === "asc" }, "Oldest first"));
  const viewButtons = h("div", { class: "segmented", role: "group", "aria-label": "View" },
    h("button", { type: "button", id: "view-grid", "aria-pressed": String(!listView), onclick: () => setView("view", null) }, "Grid"),
    h("button", { type: "button", id: "view-list", "aria-pressed": String(listView), onclick: () => setView("view", "list") }, "List"));
  const liveToggle = h("label", { class: "switch", title: "Poll for new events every few seconds" },
    h("input", { type: "checkbox", id: "live", checked: live, onchange: (e) => setView("live", e.target.checked ? "1" : null) }),
    h("span", { class: live ? "live-dot on" : "live-dot" }), "Live");
  const chartHost = h("div", { class: "chart-host", id: "chart" });
  const chartBySelect = h("select", { id: "chart-by", "aria-label": "Stack by",
    onchange: (e) => setView("chart", e.target.value === "class" ? "class" : null) },
  h("option", { value: "eventType", selected: chartBy === "eventType" }, "by event type"),
  h("option", { value: "class", selected: chartBy === "class" }, "by class"));
  const results = listView
    ? h("table", { class: "table list", id: "results" }, h("thead", {}, h("tr", {},
      ["", "Time", "Type", "Result", "Device", "Classes", "Feedback", "Warnings"].map((t) => h("th", {}, t)))), h("tbody"))
    : h("div", { class: "grid", id: "results" });
  const itemsHost = listView ? results.tBodies[0] : results;
  const moreButton = h("button", { type: "button", class: "ghost", id: "load-more", hidden: true }, "Load more");
  const status = h("p", { class: "muted status", id: "results-status" });
  const sentinel = h("div", { class: "sentinel" });
  main.append(h("section", { class: "page explorer" },
    h("div", { class: "page-head" }, title, countEl, h("span", { class: "spacer" }), sortSelect, viewButtons, liveToggle),
    chipBar,
    h("div", { class: "card chart-card" }, h("div", { class: "card-head" }, h("h2", {}, "Events over time"), chartBySelect), chartHost),
    results, status, moreButton, sentinel));
  ctx.setTitle(useCaseId, [{ label: "Use cases", href: "/ui/" }]);
  useCaseName(useCaseId, signal).then((name) => {
    if (name === null) return;
    title.textContent = name;
    ctx.setTitle(name, [{ label: "Use cases", href: "/ui/" }]);
  }).catch(() => {});

  // -- results --------------------------------------------------------------------------------------
  let events = [];
  const known = new Set();
  let cursor = null;
  let hasMore = false;
  let loading = false;
  let problem = null; // why the last page could not be read
  let chart = null;
  let stopChart = () => {};

  const showItems = (list, { prepend = false, fresh = false } = {}) => {
    const items = list.map((event) => {
      const item = listView ? listRow(event, hrefOf(event), (href) => ctx.navigate(href)) : tile(event, hrefOf(event));
      if (fresh) item.classList.add("fresh");
      return item;
    });
    if (prepend) itemsHost.prepend(...items); else itemsHost.append(...items);
  };
  const updateStatus = () => {
    moreButton.hidden = !hasMore;
    moreButton.disabled = loading;
    if (problem) status.textContent = problem;
    else if (!events.length) status.textContent = loading ? "Loading…" : "No events match these filters.";
    else status.textContent = hasMore ? `Showing ${fmtCount(events.length)}…` : `All ${fmtCount(events.length)} shown.`;
    status.classList.toggle("error-text", Boolean(problem));
  };
  const take = (list) => {
    for (const e of list) known.add(e.eventId);
    rememberEvents(list);
  };

  async function loadPage() {
    if (loading) return;
    loading = true;
    updateStatus();
    try {
      const page = await queryEvents({ ...base, sort: state.sort, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) }, signal);
      const added = page.events.filter((e) => !known.has(e.eventId));
      take(added);
      events.push(...added);
      showItems(added);
      cursor = page.nextCursor;
      hasMore = page.hasMore;
    } catch (err) {
      if (err.name !== "AbortError") problem = err.message;
      hasMore = false;
      throw err;
    } finally {
      loading = false;
      updateStatus();
    }
  }

  async function loadCount() {
    const { count } = await countEvents(toQuery(state, useCaseId), signal);
    countEl.textContent = `${fmtCount(count)} ${count === 1 ? "event" : "events"}`;
    countEl.dataset.count = count;
  }

  async function loadChart() {
    const filters = toQuery(state, useCaseId);
    let { start, end } = timeWindow(state);
    end ??= Date.now();
    if (start === null) { // an open start: the oldest match sets the axis
      const first = await queryEvents({ ...filters, sort: "asc", limit: 1 }, signal);
      start = first.events.length ? Date.parse(first.events[0].timestamp) : end - 86400e3;
    }
    const interval = intervalFor(end - start);
    const { buckets } = await aggregate({ ...filters, groupBy: [chartBy], interval, timezone: TIME_ZONE }, signal);
    chart = { by: chartBy, buckets, interval, start, end };
    showChart();
  }

  function showChart() {
    stopChart();
    stopChart = drawChart(chartHost, chart.buckets, {
      by: chart.by, interval: chart.interval, start: chart.start, end: chart.end,
      onPick: (from, to) => go({ ...state, range: null, from: new Date(from).toISOString(), to: new Date(to).toISOString() }),
      onLegend: (key) => go(chartBy === "class"
        ? { ...state, classes: [...state.classes, { name: key, min: 0 }] }
        : { ...state, types: [key] }),
    });
  }

  const failed = (err) => { if (err.name !== "AbortError") toast(err.message, "error"); };

  // "Back" from an event shows the results as they were left, scrolled to where they were.
  const restore = saved?.key === filterKey && Date.now() - saved.at < RESTORE_MS ? saved : null;
  if (restore) {
    events = restore.events.map((e) => rememberedEvent(e.eventId) ?? e);
    take(events);
    ({ cursor, hasMore } = restore);
    showItems(events);
    updateStatus();
    requestAnimationFrame(() => window.scrollTo(0, restore.scrollY));
  } else {
    loadPage().catch(failed);
  }
  loadCount().catch(failed);
  if (restore?.chart?.by === chartBy) {
    chart = restore.chart;
    showChart();
  } else {
    loadChart().catch(failed);
  }

  moreButton.addEventListener("click", () => loadPage().catch(failed));
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && hasMore && !loading) loadPage().catch(failed);
  }, { rootMargin: "800px 0px" });
  observer.observe(sentinel);

  // -- live -----------------------------------------------------------------------------------------
  let polls = 0;
  let keep = true; // whether "back" may show these results again
  async function poll() {
    if (document.hidden) return;
    const fresh = await queryEvents({ ...toQuery(state, useCaseId), sort: "desc", limit: PAGE_SIZE }, signal);
    const added = [];
    for (const e of fresh.events) {
      if (known.has(e.eventId)) break;
      added.push(e);
    }
    if (added.length === fresh.events.length && fresh.hasMore) { // more arrived than one page: start over
      keep = false;
      ctx.navigate(location.pathname + location.search, { replace: true });
      return;
    }
    if (added.length) {
      take(added);
      events.unshift(...added);
      showItems(added, { prepend: true, fresh: true });
      updateStatus();
    }
    polls += 1;
    await Promise.all([loadCount(), polls % CHART_EVERY === 0 ? loadChart() : null]);
  }
  let timer = null;
  if (live) {
    if (state.sort === "desc") timer = setInterval(() => poll().catch(failed), LIVE_MS);
    else toast("Live mode shows new events in newest-first order only.");
  }

  return () => {
    clearInterval(timer);
    observer.disconnect();
    stopChart();
    saved = keep ? { key: filterKey, events, cursor, hasMore, chart, scrollY: window.scrollY, at: Date.now() } : null;
  };
}
