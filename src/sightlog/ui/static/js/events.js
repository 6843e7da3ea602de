// How one event reads in the dashboard: its page paths, its main image and a one-line summary.

export const explorerPath = (useCaseId) => `/ui/use-cases/${encodeURIComponent(useCaseId)}`;

/** The detail page of an event, keeping the explorer's query string (filters and view settings). */
export const detailPath = (useCaseId, eventId, search = "") =>
  `${explorerPath(useCaseId)}/events/${encodeURIComponent(eventId)}${search ? `?${search}` : ""}`;

/** The image an event is shown by (``displayImagePosition``, else the first). */
export function mainImage(event) {
  const images = event.images ?? [];
  return images[event.displayImagePosition ?? 0] ?? images[0] ?? null;
}

/** A thumbnail of the input image when there is one: predictions are drawn in its pixel space, and a
 * display image may already have them painted in. */
export function thumbnailOf(image) {
  if (!image) return null;
  return image.inputUrl ? `${image.inputUrl}/thumbnail` : image.thumbnailUrl;
}

/** {text, tone} for a badge: tone is ok, bad, warn or plain. */
export function summary(event) {
  const data = event.eventData ?? {};
  switch (event.eventType) {
    case "quality_check":
      return { text: data.result ?? "check", tone: data.result === "fail" ? "bad" : data.result === "pass" ? "ok" : "plain" };
    case "inventory_count":
      return { text: `${data.itemCount ?? "?"} ${data.itemType ?? "items"}`, tone: "plain" };
    case "safety_alert":
      return {
        text: [data.severity, data.alertType].filter(Boolean).join(" · ") || "alert",
        tone: { high: "bad", medium: "warn", low: "plain" }[data.severity] ?? "warn",
      };
    case "operator_feedback":
      return { text: `review: ${data.feedback ?? "?"}`, tone: data.feedback === "incorrect" ? "bad" : "plain" };
    default:
      return { text: data.value !== undefined ? String(data.value) : "custom", tone: "plain" };
  }
}

export const FEEDBACK_MARKS = { correct: "✓", incorrect: "✗", inconclusive: "?" };
