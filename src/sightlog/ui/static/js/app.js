// The dashboard shell: a small router over the History API (pages are views of one HTML shell), the header,
// and the session: who is signed in, its periodic renewal, sign-out.

import { getSession, signOut } from "./api.js";
import { h, toast } from "./dom.js";
import { renderDetail } from "./detail.js";
import { renderExplorer } from "./explorer.js";
import { renderUseCases } from "./usecases.js";

const RENEW_MS = 15 * 60e3; // the server's cookie lasts 12 h; an open tab (a wall screen) keeps renewing it

const main = document.getElementById("main");
const crumbs = document.getElementById("crumbs");
let session = null;
let leave = null; // the current page's cleanup
let controller = null; // aborts the current page's requests when it is left

export function navigate(url, { replace = false } = {}) {
  history[replace ? "replaceState" : "pushState"](null, "", url);
  route();
}

function setTitle(title, trail) {
  document.title = `${title} · Sightlog`;
  crumbs.replaceChildren(...trail.flatMap((c) => [h("a", { href: c.href, "data-nav": true }, c.label), h("span", { class: "sep" }, "/")]),
    h("span", { class: "current" }, title));
}

/** ["use-cases", "line-qa", "events", "a/b"] from /ui/use-cases/line-qa/events/a%2Fb */
const segments = () => location.pathname.replace(/^\/ui\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);

async function route() {
  leave?.();
  controller?.abort();
  controller = new AbortController();
  const ctx = { signal: controller.signal, navigate, setTitle, canWrite: canWrite() };
  const params = new URLSearchParams(location.search);
  const [first, useCaseId, third, eventId, ...rest] = segments();
  main.replaceChildren();
  let render = null;
  if (first === undefined) render = () => renderUseCases(main, { params, ctx });
  else if (first === "use-cases" && useCaseId && third === undefined) render = () => renderExplorer(main, { useCaseId, params, ctx });
  else if (first === "use-cases" && third === "events" && eventId && !rest.length) {
    render = () => renderDetail(main, { useCaseId, eventId, params, ctx });
  }
  if (!render) {
    setTitle("Not found", [{ label: "Use cases", href: "/ui/" }]);
    main.append(h("div", { class: "empty" }, "There is no dashboard page here."));
    return;
  }
  const mine = controller;
  try {
    const cleanup = await render();
    if (mine === controller) leave = cleanup ?? null; else cleanup?.();
  } catch (err) {
    if (err.name === "AbortError" || mine !== controller) return;
    main.append(h("div", { class: "empty error-text" }, err.status === 404 ? "Not found in this workspace." : err.message));
  }
}

const canWrite = () => Boolean(session?.scopes.some((s) => s === "admin" || s === "vision-events:write"));

document.addEventListener("click", (e) => {
  const link = e.target.closest("a[data-nav]");
  if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", route);

document.getElementById("sign-out").addEventListener("click", async () => {
  try {
    await signOut();
  } finally {
    location.assign("/ui/login");
  }
});

async function start() {
  try {
    session = await getSession();
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  const who = document.getElementById("who");
  who.textContent = session.workspace.name;
  who.title = `Workspace ${session.workspace.slug} · key ${session.keyPrefix}… (${session.scopes.join(", ")})`;
  setInterval(() => getSession().catch(() => {}), RENEW_MS);
  route();
}

start();
