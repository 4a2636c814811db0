from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captionflow_trainer import errors
from captionflow_trainer.data import load_image, load_manifest
from captionflow_trainer.errors import TrainerError


def _write(tmp_path: Path, manifest: object) -> Path:
    p = tmp_path / "m.json"
    p.write_text(json.dumps(manifest))
    return p


@pytest.mark.parametrize(
    ("manifest", "needle"),
    [
        ({"items": []}, "datasetVersion"),
        ({"datasetVersion": "v1", "items": [{"id": "a", "split": "dev", "image": "/x.png", "captions": ["c"]}]}, "split"),
        ({"datasetVersion": "v1", "items": [{"id": "a", "split": "train", "image": "rel.png", "captions": ["c"]}]}, "absolute"),
        ({"datasetVersion": "v1", "items": [{"id": "a", "split": "train", "image": "/x.png", "captions": []}]}, "captions"),
        ({"datasetVersion": "v1", "items": [{"id": "a", "split": "train", "image": "/x.png", "captions": ["c"]}] * 2}, "duplicated"),
    ],
)
def test_an_invalid_manifest_is_config_invalid_naming_the_field(tmp_path: Path, manifest: object, needle: str) -> None:
    with pytest.raises(TrainerError) as info:
        load_manifest(_write(tmp_path, manifest))
    assert info.value.code == errors.CONFIG_INVALID
    assert needle in str(info.value)


def test_a_missing_manifest_is_object_not_found(tmp_path: Path) -> None:
    with pytest.raises(TrainerError) as info:
        load_manifest(tmp_path / "nope.json")
    assert info.value.code == errors.OBJECT_NOT_FOUND


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_images_of_another_size_or_format_are_resized_and_normalised(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"img.{fmt}"
    Image.new("RGB", (96, 96), (255, 0, 0)).save(path, format=fmt.upper())
    arr = load_image(str(path), 64)
    assert arr.shape == (3, 64, 64) and arr.dtype == np.float32
    # (255/255 - 0.5) / 0.5 = 1 ; (0 - 0.5) / 0.5 = -1 ; lossy formats land close
    assert np.allclose(arr[0].mean(), 1.0, atol=0.05) and np.allclose(arr[2].mean(), -1.0, atol=0.05)


def test_grayscale_images_become_rgb(tmp_path: Path) -> None:
    path = tmp_path / "g.png"
    Image.new("L", (64, 64), 128).save(path)
    assert load_image(str(path), 64).shape == (3, 64, 64)


def test_an_undecodable_image_is_image_decode_failed(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(b"not an image")
    with pytest.raises(TrainerError) as info:
        load_image(str(path), 64)
    assert info.value.code == errors.IMAGE_DECODE_FAILED
