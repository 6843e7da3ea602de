// Predictions drawn as SVG over an image. The SVG's viewBox is the input image's pixel space, where the
// predictions live (SPEC §3.4), and preserveAspectRatio "meet" letterboxes it exactly like the <img>'s
// object-fit: contain, so both line up at any size without measuring anything.

import { colorFor, s } from "./dom.js";

const KINDS = ["objectDetections", "instanceSegmentations", "keypoints", "classifications"];

/** Every prediction of one event image, flattened: {kind, cls, confidence, raw}. */
export function predictionsOf(image) {
  return KINDS.flatMap((kind) =>
    (image?.[kind] ?? []).map((raw) => ({ kind, cls: String(raw.class ?? "?"), confidence: raw.confidence ?? 1, raw })));
}

/** {class: count} over all images of an event. */
export function classCounts(event) {
  const counts = {};
  for (const image of event.images ?? []) {
    for (const p of predictionsOf(image)) counts[p.cls] = (counts[p.cls] ?? 0) + 1;
  }
  return counts;
}

const pct = (x) => `${Math.round(x * 100)}%`;

function label(text, x, y, size, color) {
  // A dark outline under the text keeps it legible on any picture.
  return s("text", {
    class: "label", x, y, "font-size": size, fill: color, stroke: "rgba(0,0,0,.75)",
    "stroke-width": size / 6, "paint-order": "stroke",
  }, text);
}

/** Where a label of ``width`` × ``size`` goes near (x, y): moved down a line while it would cover one
 * already placed (boxes of a person and their hardhat share a top edge). Records the spot in ``placed``. */
function freeSpot(placed, x, y, width, size) {
  const hits = (b) => x < b.x + b.width && b.x < x + width && y - size < b.y && b.y - size < y;
  for (let tries = 0; tries < 8 && placed.some(hits); tries += 1) y += size * 1.15;
  placed.push({ x, y, width });
  return { x, y };
}

/**
 * The overlay for one image. Options: hidden (Set of classes not to draw), minConfidence, labels (draw
 * class names and confidences), thin (strokes for a thumbnail).
 */
export function drawOverlay(image, { hidden = new Set(), minConfidence = 0, labels = true } = {}) {
  const { width, height } = image;
  const svg = s("svg", {
    class: "overlay", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "xMidYMid meet",
    "aria-hidden": "true",
  });
  const fontSize = Math.max(width, height) / 45;
  const radius = Math.max(width, height) / 180;
  const shown = predictionsOf(image).filter((p) => !hidden.has(p.cls) && p.confidence >= minConfidence);
  let classLine = 0;
  const placed = [];
  for (const p of shown) {
    const color = colorFor(p.cls);
    const { raw } = p;
    const g = s("g", { class: "prediction", "data-kind": p.kind, "data-class": p.cls });
    if (p.kind === "classifications") {
      if (!labels) continue; // too small to read on a thumbnail
      classLine += 1;
      g.append(label(`${p.cls} ${pct(p.confidence)}`, fontSize / 2, fontSize * 1.3 * classLine, fontSize * 1.1, color));
      svg.append(g);
      continue;
    }
    const left = raw.x - raw.width / 2;
    const top = raw.y - raw.height / 2;
    if (p.kind === "instanceSegmentations" && raw.points?.length >= 3) {
      g.append(s("polygon", {
        class: "polygon", points: raw.points.map(([x, y]) => `${x},${y}`).join(" "),
        fill: color, "fill-opacity": 0.18, stroke: color,
      }));
    } else {
      // Keypoint predictions carry a box too (the person); drawn dashed so the points stand out.
      g.append(s("rect", {
        class: p.kind === "keypoints" ? "box secondary" : "box", "data-kind": p.kind,
        x: left, y: top, width: raw.width, height: raw.height, stroke: color, fill: "none",
      }));
    }
    for (const kp of p.kind === "keypoints" ? raw.keypoints ?? [] : []) {
      if ((kp.confidence ?? 1) < minConfidence) continue;
      g.append(s("circle", { class: "keypoint", cx: kp.x, cy: kp.y, r: radius, fill: color }));
    }
    if (labels) {
      const text = `${p.cls} ${pct(p.confidence)}`;
      const spot = freeSpot(placed, left, Math.max(fontSize, top - fontSize * 0.3), text.length * fontSize * 0.6, fontSize);
      g.append(label(text, spot.x, spot.y, fontSize, color));
    }
    svg.append(g);
  }
  return svg;
}
