// The JSON API as the dashboard calls it: same-origin fetches that carry the session cookie and the CSRF
// header the server requires of cookie-authenticated writes.

class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function signInAgain() {
  const here = location.pathname + location.search;
  location.assign(`/ui/login?next=${encodeURIComponent(here)}`);
}

export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { "X-Sightlog-CSRF": "1", Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, signal, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    signInAgain();
    throw new ApiError(401, "Signed out.", "unauthorized");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, data?.error ?? `The server answered ${response.status}.`, data?.code);
  }
  return data;
}

const enc = encodeURIComponent; // event ids may hold '/', '?' or '#'

const eventApiPath = (id) => `/vision-events/events/${enc(id)}`;
export const annotatedPath = (id, index) => `${eventApiPath(id)}/images/${index}/annotated`;

export const getSession = () => api("/ui/session");
export const signOut = () => api("/ui/session", { method: "DELETE" });
export const listUseCases = (status, signal) => api(`/vision-events/use-cases?status=${status}`, { signal });
export const createUseCase = (name) => api("/vision-events/use-cases", { method: "POST", body: { name } });
export const renameUseCase = (id, name) =>
  api(`/vision-events/use-cases/${enc(id)}`, { method: "PUT", body: { name } });
export const setArchived = (id, archived) =>
  api(`/vision-events/use-cases/${enc(id)}/${archived ? "archive" : "unarchive"}`, { method: "POST" });
export const metadataSchema = (id, signal) => api(`/vision-events/custom-metadata-schema/${enc(id)}`, { signal });
export const queryEvents = (body, signal) => api("/vision-events/query", { method: "POST", body, signal });
export const countEvents = (body, signal) => api("/vision-events/count", { method: "POST", body, signal });
export const aggregate = (body, signal) => api("/vision-events/aggregate", { method: "POST", body, signal });
export const getEvent = (id, signal) => api(eventApiPath(id), { signal });
export const giveFeedback = (id, feedback, comment) =>
  api(`${eventApiPath(id)}/feedback`, { method: "POST", body: comment ? { feedback, comment } : { feedback } });
export const neighbours = (body, signal) => api("/ui/neighbours", { method: "POST", body, signal });

// Events the explorer already holds, so opening one shows it at once.
const MAX_REMEMBERED = 3000;
const remembered = new Map();

export function rememberEvents(events) {
  for (const event of events) {
    remembered.delete(event.eventId);
    remembered.set(event.eventId, event);
  }
  while (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value);
}

export const rememberedEvent = (id) => remembered.get(id);
