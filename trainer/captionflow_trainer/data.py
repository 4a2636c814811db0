"""Manifests (dataset versions) and the arrays the trainer feeds the model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import errors
from .errors import TrainerError
from .model import PIXEL_MEAN, PIXEL_STD

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    id: str
    split: str
    image: str
    captions: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    dataset_version: str
    items: tuple[Item, ...]
    path: str

    def split(self, name: str) -> list[Item]:
        return [it for it in self.items if it.split == name]


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest; any problem is a CONFIG_INVALID naming the item and field."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise TrainerError(errors.OBJECT_NOT_FOUND, f"manifest not found: {p}", context={"path": str(p)}) from None
    except json.JSONDecodeError as exc:
        raise TrainerError(errors.CONFIG_INVALID, f"manifest {p} is not JSON: {exc}", context={"path": str(p)}) from exc

    def bad(msg: str, **ctx: object) -> TrainerError:
        return TrainerError(errors.CONFIG_INVALID, f"manifest {p}: {msg}", context={"path": str(p), **ctx})

    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise bad('expected an object with an "items" array')
    version = data.get("datasetVersion")
    if not isinstance(version, str) or not version:
        raise bad('"datasetVersion" must be a non-empty string')
    items: list[Item] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["items"]):
        if not isinstance(raw, dict):
            raise bad(f"items[{i}] is not an object", index=i)
        item_id, split, image, captions = raw.get("id"), raw.get("split"), raw.get("image"), raw.get("captions")
        if not isinstance(item_id, str) or not item_id:
            raise bad(f"items[{i}].id must be a non-empty string", index=i)
        if item_id in seen:
            raise bad(f"items[{i}].id {item_id!r} is duplicated", index=i)
        if split not in SPLITS:
            raise bad(f"items[{i}].split is {split!r}, expected one of {list(SPLITS)}", index=i)
        if not isinstance(image, str) or not Path(image).is_absolute():
            raise bad(f"items[{i}].image must be an absolute path, got {image!r}", index=i)
        if not isinstance(captions, list) or not captions or not all(isinstance(c, str) and c.strip() for c in captions):
            raise bad(f"items[{i}].captions must be a non-empty array of non-empty strings", index=i)
        seen.add(item_id)
        items.append(Item(item_id, split, image, tuple(captions)))
    return Manifest(version, tuple(items), str(p))


def load_image(path: str, size: int) -> np.ndarray:
    """An image as float32 [3, size, size], normalised like the exported encoder expects."""
    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            # The pipeline already resized; this only guards against a size mismatch.
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.BILINEAR)
            arr = np.asarray(rgb, dtype=np.float32)
    except FileNotFoundError:
        raise TrainerError(errors.OBJECT_NOT_FOUND, f"image not found: {path}", context={"image": path}) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise TrainerError(errors.IMAGE_DECODE_FAILED, f"cannot decode image {path}: {exc}", context={"image": path}) from exc
    return normalize_pixels(arr).transpose(2, 0, 1)


def normalize_pixels(rgb_hwc: np.ndarray) -> np.ndarray:
    """uint8-range HWC RGB -> (v / 255 - mean) / std."""
    mean = np.asarray(PIXEL_MEAN, dtype=np.float32)
    std = np.asarray(PIXEL_STD, dtype=np.float32)
    return ((rgb_hwc.astype(np.float32) / 255.0) - mean) / std


def load_images(items: list[Item], size: int) -> np.ndarray:
    if not items:
        return np.zeros((0, 3, size, size), np.float32)
    return np.stack([load_image(it.image, size) for it in items])
