"""Pictures for ``sightlog demo``: Pillow-drawn scenes whose predictions fit what is drawn.

Each scene function draws one 640x480 frame from a seeded random generator and returns it with the
predictions a model would make on it (in the wire's camelCase, boxes centre-based) and the facts the event
reports (a pass or fail, an item count, who wears no hardhat).
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 640, 480
Box = tuple[float, float, float, float]  # left, top, right, bottom
Prediction = dict[str, Any]


@dataclass
class Scene:
    jpeg: bytes = b""
    predictions: dict[str, list[Prediction]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, kind: str, prediction: Prediction) -> None:
        self.predictions.setdefault(kind, []).append(prediction)


def _boxed(name: str, box: Box, confidence: float, **extra: Any) -> Prediction:
    left, top, right, bottom = box
    return {
        "class": name,
        "x": round((left + right) / 2, 1),
        "y": round((top + bottom) / 2, 1),
        "width": round(right - left, 1),
        "height": round(bottom - top, 1),
        "confidence": round(confidence, 3),
        **extra,
    }


def _ellipse_points(box: Box, count: int = 12) -> list[list[float]]:
    left, top, right, bottom = box
    cx, cy, rx, ry = (left + right) / 2, (top + bottom) / 2, (right - left) / 2, (bottom - top) / 2
    return [
        [
            round(cx + rx * math.cos(2 * math.pi * i / count), 1),
            round(cy + ry * math.sin(2 * math.pi * i / count), 1),
        ]
        for i in range(count)
    ]


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82)
    return out.getvalue()


def assembly_line(rng: random.Random) -> Scene:
    """A machined part on a conveyor belt, sometimes scratched or dented."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (58, 62, 70))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 170, WIDTH, 410), fill=(35, 35, 38))
    for x in range(rng.randint(0, 39), WIDTH, 40):
        draw.line((x, 170, x, 410), fill=(52, 52, 56), width=3)
    width, height = rng.randint(220, 300), rng.randint(140, 180)
    cx, cy = rng.randint(40 + width // 2, WIDTH - 40 - width // 2), rng.randint(270, 310)
    part: Box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    draw.rounded_rectangle(part, radius=18, fill=(176, 182, 190), outline=(120, 125, 132), width=3)
    for hx, hy in ((part[0] + 24, part[1] + 24), (part[2] - 24, part[3] - 24)):
        draw.ellipse((hx - 9, hy - 9, hx + 9, hy + 9), fill=(70, 72, 78))

    scene = Scene()
    outline = [[part[0], part[1]], [part[2], part[1]], [part[2], part[3]], [part[0], part[3]]]
    scene.add("instanceSegmentations", _boxed("part", part, rng.uniform(0.93, 0.99), points=outline))
    defects = rng.choice([0, 0, 0, 0, 0, 0, 1, 1, 1, 2])
    for _ in range(defects):
        x, y = rng.uniform(part[0] + 45, part[2] - 45), rng.uniform(part[1] + 35, part[3] - 35)
        confidence = rng.uniform(0.55, 0.98)
        if rng.random() < 0.5:
            angle, length = rng.uniform(0, math.pi), rng.uniform(30, 60)
            end = (x + length * math.cos(angle), y + length * math.sin(angle) * 0.5)
            draw.line((x, y, *end), fill=(72, 60, 54), width=3)
            box: Box = (min(x, end[0]) - 4, min(y, end[1]) - 4, max(x, end[0]) + 4, max(y, end[1]) + 4)
            scene.add("objectDetections", _boxed("scratch", box, confidence))
        else:
            rx, ry = rng.uniform(12, 22), rng.uniform(8, 14)
            box = (x - rx, y - ry, x + rx, y + ry)
            draw.ellipse(box, fill=(128, 118, 108), outline=(90, 82, 76), width=2)
            scene.add("instanceSegmentations", _boxed("dent", box, confidence, points=_ellipse_points(box)))
    verdict = "defective" if defects else "ok"
    scene.add("classifications", {"class": verdict, "confidence": round(rng.uniform(0.7, 0.99), 3)})
    scene.facts = {"defects": defects}
    scene.jpeg = _jpeg(image)
    return scene


def warehouse(rng: random.Random) -> Scene:
    """A shelving unit with labelled cartons on three shelves."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (214, 208, 196))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 440, WIDTH, HEIGHT), fill=(150, 150, 146))
    for x in (36, 596):
        draw.rectangle((x, 20, x + 10, 450), fill=(232, 122, 32))
    scene = Scene()
    fill = rng.choice([0.95, 0.8, 0.55, 0.3, 0.1])
    boxes = 0
    for shelf in (150, 290, 430):
        draw.rectangle((36, shelf, 606, shelf + 10), fill=(40, 70, 140))
        for slot in range(7):
            if rng.random() > fill:
                continue
            w, h = rng.randint(50, 66), rng.randint(60, 105)
            left = 56 + slot * 78 + rng.randint(0, 6)
            box: Box = (left, shelf - h, left + w, shelf)
            draw.rectangle(box, fill=(196, 160, 110), outline=(140, 108, 70), width=2)
            draw.line((left, shelf - h + 12, left + w, shelf - h + 12), fill=(170, 130, 80), width=4)
            label: Box = (left + 10, shelf - h / 2, left + w - 10, shelf - h / 2 + 14)
            draw.rectangle(label, fill=(245, 245, 240))
            scene.add("objectDetections", _boxed("carton", box, rng.uniform(0.72, 0.99)))
            scene.add("objectDetections", _boxed("label", label, rng.uniform(0.5, 0.95)))
            boxes += 1
    state = "shelf_full" if boxes >= 15 else "shelf_partial" if boxes >= 5 else "shelf_empty"
    scene.add("classifications", {"class": state, "confidence": round(rng.uniform(0.75, 0.99), 3)})
    scene.facts = {"boxes": boxes}
    scene.jpeg = _jpeg(image)
    return scene


# Keypoint ids and names of the stick figures (a subset of COCO's).
SKELETON = (
    "head",
    "neck",
    "left_shoulder",
    "right_shoulder",
    "left_hand",
    "right_hand",
    "hip",
    "left_foot",
    "right_foot",
)


def site_safety(rng: random.Random) -> Scene:
    """Workers on a construction site, some without a hardhat, near a striped restricted zone."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (172, 202, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 210, WIDTH, HEIGHT), fill=(196, 170, 122))
    for x in range(60, 260, 50):  # scaffolding in the background
        draw.line((x, 60, x, 210), fill=(110, 110, 116), width=4)
    for y in range(60, 211, 50):
        draw.line((60, y, 210, y), fill=(110, 110, 116), width=4)
    zone = [[420.0, 300.0], [620.0, 300.0], [630.0, 460.0], [400.0, 460.0]]
    draw.polygon([tuple(p) for p in zone], fill=(214, 64, 52), outline=(255, 255, 255), width=4)
    scene = Scene()
    scene.add("instanceSegmentations", _boxed("restricted_zone", (400, 300, 630, 460), 0.97, points=zone))

    unprotected = in_zone = 0
    people = rng.randint(1, 4)
    # One worker per 90-pixel slot, so they never hide each other; the farther ones are drawn first.
    workers = [
        (rng.uniform(330, 450), x + rng.uniform(-15, 15)) for x in rng.sample(range(70, 590, 90), people)
    ]
    for foot, x in sorted(workers):
        unprotected += _worker(draw, scene, rng, x, foot, height=rng.uniform(120, 170))
        in_zone += x > 420  # standing on the zone, whose near edge is above every worker's feet
    scene.facts = {"people": people, "unprotected": unprotected, "in_zone": in_zone}
    scene.jpeg = _jpeg(image)
    return scene


def _worker(
    draw: ImageDraw.ImageDraw, scene: Scene, rng: random.Random, x: float, foot: float, height: float
) -> int:
    """Draw one stick-figure worker; returns 1 when they wear no hardhat."""
    top = foot - height
    r = height * 0.09
    head = (x, top + r)
    neck, hip = (x, top + 2 * r + 4), (x, top + height * 0.58)
    shoulders = ((x - height * 0.13, neck[1] + 6), (x + height * 0.13, neck[1] + 6))
    hands = ((x - height * 0.2, top + height * 0.5), (x + height * 0.2, top + height * 0.5))
    feet = ((x - height * 0.12, foot), (x + height * 0.12, foot))
    ink = (40, 40, 48)
    draw.line((*shoulders[0], *shoulders[1]), fill=ink, width=5)
    for joint, end in ((shoulders[0], hands[0]), (shoulders[1], hands[1]), (hip, feet[0]), (hip, feet[1])):
        draw.line((*joint, *end), fill=ink, width=5)
    draw.rectangle((x - height * 0.1, neck[1], x + height * 0.1, hip[1]), fill=(255, 140, 20))  # vest
    draw.ellipse((x - r, top, x + r, top + 2 * r), fill=(224, 180, 150), outline=ink)
    helmet = rng.random() < 0.75
    head_box: Box = (x - r - 2, top - (r * 0.6 if helmet else 0), x + r + 2, top + 2 * r)
    if helmet:
        draw.pieslice((x - r - 3, top - r * 0.6, x + r + 3, top + r * 1.4), 180, 360, fill=(250, 210, 20))
    body: Box = (x - height * 0.22, top - (r * 0.6 if helmet else 0), x + height * 0.22, foot + 2)
    joints = (head, neck, *shoulders, *hands, hip, *feet)
    keypoints = [
        {
            "id": i,
            "class": name,
            "x": round(px, 1),
            "y": round(py, 1),
            "confidence": round(rng.uniform(0.6, 0.99), 3),
        }
        for i, (name, (px, py)) in enumerate(zip(SKELETON, joints, strict=True))
    ]
    # A pose model finds the people and a PPE detector their heads, so that each person counts once.
    scene.add("keypoints", _boxed("person", body, rng.uniform(0.7, 0.98), keypoints=keypoints))
    head_class = "hardhat" if helmet else "no_hardhat"
    scene.add("objectDetections", _boxed(head_class, head_box, rng.uniform(0.6, 0.97)))
    return 0 if helmet else 1
