"""A small procedural scene generator for tests and measurements (not used in training).

It mimics the pipeline's synthetic scenes: one or two groups of shapes (count, size, colour,
shape) on a varied background, each image with five differently phrased captions. The real
scenes come from the TS generator; this one only exists so the trainer can be tested alone.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 205, 30),
    "purple": (140, 50, 170),
    "orange": (245, 130, 20),
}
# Orange is left out by default so that tests can add it as an unseen word for fine-tuning.
DEFAULT_PALETTE = ("red", "green", "blue", "yellow", "purple")
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 0.09, "large": 0.15}  # radius as a fraction of the image side
COUNT_WORDS = {1: "a", 2: "two", 3: "three"}


def _phrase(count: int, size: str, color: str, shape: str) -> str:
    return f"{COUNT_WORDS[count]} {size} {color} {shape}{'s' if count > 1 else ''}"


def _captions(groups: list[tuple[int, str, str, str]]) -> list[str]:
    a = _phrase(*groups[0])
    if len(groups) == 1:
        return [a, f"there {'are' if groups[0][0] > 1 else 'is'} {a}", f"a picture of {a}", f"an image with {a}", f"{a} on a plain background"]
    b = _phrase(*groups[1])
    return [f"{a} and {b}", f"{b} beside {a}", f"{a} on the left and {b} on the right", f"there are {a} and {b}", f"{b} next to {a}"]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fill: tuple[int, int, int]) -> None:
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        s = r * 0.9
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=fill)


def _background(rng: random.Random, side: int) -> Image.Image:
    base = np.array([rng.randint(170, 255) for _ in range(3)], np.float32)
    tint = np.array([rng.randint(-60, 60) for _ in range(3)], np.float32)
    ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)
    t = ramp[None, :] if rng.random() < 0.5 else ramp[:, None]  # horizontal or vertical gradient
    noise = np.random.default_rng(rng.getrandbits(32)).integers(-8, 9, (side, side, 3))
    pixels = base + tint * np.broadcast_to(t, (side, side))[..., None] + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def render_scene(rng: random.Random, size: int, palette: tuple[str, ...] = DEFAULT_PALETTE) -> tuple[Image.Image, list[str]]:
    """One image (size x size RGB) and its five captions."""
    draw_side = size * 2  # drawn at 2x and downsampled for anti-aliased edges
    img = _background(rng, draw_side)
    draw = ImageDraw.Draw(img)
    n_groups = rng.choice((1, 2))
    combos = rng.sample([(c, s) for c in palette for s in SHAPES], n_groups)
    groups = [(rng.randint(1, 3), rng.choice(list(SIZES)), color, shape) for color, shape in combos]
    for g, (count, size_word, color, shape) in enumerate(groups):
        r = SIZES[size_word] * draw_side
        # Two groups: the first on the left half, the second on the right (the captions say so).
        x_lo, x_hi = (0.0, 1.0) if n_groups == 1 else ((0.0, 0.5) if g == 0 else (0.5, 1.0))
        placed: list[tuple[float, float]] = []
        for _ in range(count):
            for _attempt in range(50):
                cx = rng.uniform(x_lo * draw_side + r, x_hi * draw_side - r)
                cy = rng.uniform(r, draw_side - r)
                if all((cx - px) ** 2 + (cy - py) ** 2 > (2.1 * r) ** 2 for px, py in placed):
                    break
            placed.append((cx, cy))
            _draw_shape(draw, shape, cx, cy, r, COLORS[color])
    return img.resize((size, size), Image.LANCZOS), _captions(groups)


def make_dataset(out_dir: Path, count: int, *, size: int = 64, seed: int = 0, dataset_version: str | None = None, image_format: str = "png", palette: tuple[str, ...] = DEFAULT_PALETTE) -> Path:
    """Write `count` images and `manifest.json` (80/10/10 train/val/test) into `out_dir`; return the manifest path."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "images").mkdir(exist_ok=True)
    items = []
    for i in range(count):
        img, captions = render_scene(rng, size, palette)
        path = (out_dir / "images" / f"scene-{i:05d}.{image_format}").resolve()
        img.save(path)
        frac = i / count
        split = "train" if frac < 0.8 else ("val" if frac < 0.9 else "test")
        items.append({"id": f"scene-{seed}-{i:05d}", "split": split, "image": str(path), "captions": captions})
    manifest = {"datasetVersion": dataset_version or f"synthetic-{seed}-{count}", "items": items}
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path
