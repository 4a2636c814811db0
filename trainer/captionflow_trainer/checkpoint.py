"""Checkpoint directories: `params.msgpack` + `config.json` + `tokenizer.json` (+ `metrics.json`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flax import serialization

from . import errors
from .config import ModelConfig
from .errors import TrainerError
from .tokenizer import Tokenizer

FORMAT = "captionflow-checkpoint"
FORMAT_VERSION = 1
PARAMS_FILE = "params.msgpack"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
METRICS_FILE = "metrics.json"


@dataclass
class Checkpoint:
    model: ModelConfig
    params: dict
    tokenizer: Tokenizer
    meta: dict[str, object]
    path: Path


def params_digest(params: dict) -> str:
    """A short content hash of the parameters: the model's identity in lineage records."""
    return hashlib.sha256(serialization.msgpack_serialize(_to_numpy(params))).hexdigest()[:16]


def _to_numpy(tree: dict) -> dict:
    return {k: _to_numpy(v) if isinstance(v, dict) else np.asarray(v) for k, v in tree.items()}


def save_checkpoint(out_dir: Path, model: ModelConfig, params: dict, tokenizer: Tokenizer, meta: dict[str, object]) -> str:
    """Write a checkpoint; files are written under temporary names and renamed, so a crash never leaves half a file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    numpy_params = _to_numpy(params)
    model_id = params_digest(numpy_params)
    config = {"format": FORMAT, "formatVersion": FORMAT_VERSION, "modelId": model_id, "model": model.to_json(), **meta}
    _atomic_write(out_dir / PARAMS_FILE, serialization.msgpack_serialize(numpy_params))
    _atomic_write(out_dir / TOKENIZER_FILE, (json.dumps(tokenizer.to_json(), indent=1) + "\n").encode())
    # config.json last: its presence marks a complete checkpoint.
    _atomic_write(out_dir / CONFIG_FILE, (json.dumps(config, indent=1) + "\n").encode())
    return model_id


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint directory; a missing or inconsistent one is MODEL_LOAD_FAILED / MODEL_INVALID."""
    root = Path(path)
    cfg_path = root / CONFIG_FILE
    if not cfg_path.is_file():
        raise TrainerError(errors.MODEL_LOAD_FAILED, f"no {CONFIG_FILE} in checkpoint {root}", context={"checkpoint": str(root)})
    try:
        meta = json.loads(cfg_path.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, expected {FORMAT!r}")
        model = ModelConfig.from_json(meta["model"])
        tokenizer = Tokenizer.load(root / TOKENIZER_FILE)
        params = serialization.msgpack_restore((root / PARAMS_FILE).read_bytes())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainerError(errors.MODEL_LOAD_FAILED, f"cannot load checkpoint {root}: {exc}", context={"checkpoint": str(root)}) from exc
    vocab_rows = np.asarray(params["decoder"]["tok_emb"]).shape[0]
    if tokenizer.size != model.vocab_size or vocab_rows != model.vocab_size:
        raise TrainerError(
            errors.MODEL_INVALID,
            f"checkpoint {root}: tokenizer has {tokenizer.size} words, config {model.vocab_size}, embedding {vocab_rows}",
            context={"checkpoint": str(root)},
        )
    return Checkpoint(model=model, params=params, tokenizer=tokenizer, meta=meta, path=root)
