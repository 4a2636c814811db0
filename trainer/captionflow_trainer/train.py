"""Training: from a manifest (and optionally a parent checkpoint and replay manifests) to a checkpoint."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import __version__, errors
from .checkpoint import METRICS_FILE, load_checkpoint, save_checkpoint
from .config import ModelConfig, TrainConfig, get_preset
from .data import Item, Manifest, load_images, load_manifest
from .errors import TrainerError
from .events import Emit, emit_stdout
from .metrics import caption_metrics
from .model import Captioner, count_params, greedy_decode, init_params
from .tokenizer import BOS, EOS, PAD, UNK, Tokenizer, words

# Room left in the position table beyond the longest train caption, so that a fine-tuning
# run (which inherits the table) can still take somewhat longer captions.
MAX_LEN_HEADROOM = 4
EVAL_BATCH = 64
# Validation images greedy-decoded after every epoch for the learning curves (one decode batch:
# the curve's BLEU-4/CIDEr-D cost one compiled call per epoch, not a pass over a large split).
CURVE_VAL_ITEMS = EVAL_BATCH
# Validation images per loss batch, each decoded against all of its references.
VAL_IMAGES = 16


@dataclass(frozen=True)
class TrainOptions:
    manifest: str
    out: str
    config: str = "default"
    init_from: str | None = None
    seed: int = 0
    epochs: int | None = None
    replay_manifests: tuple[str, ...] = ()
    # At most this many replayed train items per run (None = all of them).
    replay_limit: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    captions_per_image: int | None = None
    label_smoothing: float | None = None
    ema_decay: float | None = None
    shift_pixels: int | None = None
    weight_decay: float | None = None


def _shift_images(rng: np.random.Generator, images: np.ndarray, pixels: int) -> np.ndarray:
    """Translate each [3, H, W] image by a random offset in [-pixels, pixels] per axis (edge-padded)."""
    _, _, height, width = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (pixels, pixels), (pixels, pixels)), mode="edge")
    offsets = rng.integers(0, 2 * pixels + 1, size=(len(images), 2))
    return np.stack([padded[i, :, dy:dy + height, dx:dx + width] for i, (dy, dx) in enumerate(offsets)])


def _train_items(main: Manifest, replays: list[Manifest], limit: int | None, rng: np.random.Generator) -> tuple[list[Item], int]:
    items = main.split("train")
    seen = {it.id for it in main.items}
    replay: list[Item] = []
    for m in replays:
        for it in m.split("train"):
            if it.id not in seen:
                seen.add(it.id)
                replay.append(it)
    if limit is not None and len(replay) > limit:
        keep = rng.choice(len(replay), size=limit, replace=False)
        replay = [replay[i] for i in sorted(keep)]
    return items + replay, len(replay)


def extend_vocab(params: dict, old_size: int, new_size: int, seed: int) -> dict:
    """Append embedding rows and output columns for new words.

    The new words were <unk> to the parent, so they start as copies of <unk> (plus a little
    noise to tell them apart): the fine-tuned model starts out behaving like its parent.
    """
    if new_size == old_size:
        return params
    extra = new_size - old_size
    rng = np.random.default_rng(seed)
    dec = dict(params["decoder"])
    tok = np.asarray(dec["tok_emb"])
    dec["tok_emb"] = np.concatenate([tok, tok[UNK][None, :] + rng.normal(0, 0.01, (extra, tok.shape[1])).astype(np.float32)])
    head = dict(dec["head"])
    kernel, bias = np.asarray(head["kernel"]), np.asarray(head["bias"])
    head["kernel"] = np.concatenate([kernel, kernel[:, UNK][:, None] + rng.normal(0, 0.01, (kernel.shape[0], extra)).astype(np.float32)], axis=1)
    head["bias"] = np.concatenate([bias, np.full((extra,), bias[UNK], np.float32)])
    dec["head"] = head
    return {**params, "decoder": dec}


def _caption_table(items: list[Item], tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """All captions as [n_items, max_caps, max_len] ids, plus the caption count per item."""
    max_caps = max(len(it.captions) for it in items)
    table = np.zeros((len(items), max_caps, tokenizer.max_len), np.int32)
    counts = np.zeros((len(items),), np.int32)
    for i, it in enumerate(items):
        counts[i] = len(it.captions)
        for j, caption in enumerate(it.captions):
            table[i, j] = tokenizer.encode_padded(caption)
    return table, counts


def _loss_fn(model: Captioner, label_smoothing: float):
    """Token cross-entropy; `tokens` may hold k references per image ([batch * k, len], image-major)."""

    def loss(params: dict, images: jnp.ndarray, tokens: jnp.ndarray, weights: jnp.ndarray) -> jnp.ndarray:
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        encoded = model.apply({"params": params}, images, method=Captioner.encode)
        per_image = tokens.shape[0] // images.shape[0]
        if per_image > 1:
            encoded = jnp.repeat(encoded, per_image, axis=0)
        logits = model.apply({"params": params}, inputs, encoded, method=Captioner.decode)
        vocab = logits.shape[-1]
        labels = optax.smooth_labels(jax.nn.one_hot(targets, vocab), label_smoothing) if label_smoothing else jax.nn.one_hot(targets, vocab)
        per_token = optax.softmax_cross_entropy(logits, labels)
        mask = (targets != PAD).astype(jnp.float32) * weights[:, None]
        return jnp.sum(per_token * mask) / jnp.maximum(jnp.sum(mask), 1.0)

    return loss


def _draw_references(rng: np.random.Generator, counts: np.ndarray, k: int) -> np.ndarray:
    """[len(counts), k] reference indices: k distinct references of each image when it has k or
    more, else every reference once and the rest drawn again at random."""
    keys = rng.random((len(counts), max(int(counts.max()), k)))
    keys[np.arange(keys.shape[1])[None, :] >= counts[:, None]] = 2.0  # absent references sort last
    order = np.argsort(keys, axis=1)[:, :k]
    short = np.arange(k)[None, :] >= counts[:, None]
    return np.where(short, (rng.random((len(counts), k)) * counts[:, None]).astype(np.int64), order).astype(np.int32)


def _pad_batch(n: int, batch: int) -> int:
    return batch - n if n < batch else 0


def train(opts: TrainOptions, emit: Emit = emit_stdout) -> dict[str, object]:
    """Run one training job; returns the `done` event (also emitted)."""
    started = time.time()
    preset = get_preset(opts.config)
    tcfg: TrainConfig = preset.train
    overrides = {k: v for k, v in {"epochs": opts.epochs, "batch_size": opts.batch_size, "learning_rate": opts.learning_rate,
                                   "captions_per_image": opts.captions_per_image}.items() if v is not None}
    for key, value in overrides.items():
        if value <= 0:
            raise TrainerError(errors.CONFIG_INVALID, f"--{key.replace('_', '-')} must be positive, got {value}", context={key: value})
    if opts.label_smoothing is not None:
        if not 0 <= opts.label_smoothing < 1:
            raise TrainerError(errors.CONFIG_INVALID, f"--label-smoothing must be in [0, 1), got {opts.label_smoothing}",
                               context={"label_smoothing": opts.label_smoothing})
        overrides["label_smoothing"] = opts.label_smoothing
    if opts.ema_decay is not None:
        if not 0 <= opts.ema_decay < 1:
            raise TrainerError(errors.CONFIG_INVALID, f"--ema-decay must be in [0, 1), got {opts.ema_decay}", context={"ema_decay": opts.ema_decay})
        overrides["ema_decay"] = opts.ema_decay
    if opts.shift_pixels is not None:
        if opts.shift_pixels < 0:
            raise TrainerError(errors.CONFIG_INVALID, f"--shift-pixels must be >= 0, got {opts.shift_pixels}", context={"shift_pixels": opts.shift_pixels})
        overrides["shift_pixels"] = opts.shift_pixels
    if opts.weight_decay is not None:
        if not 0 <= opts.weight_decay < 1:
            raise TrainerError(errors.CONFIG_INVALID, f"--weight-decay must be in [0, 1), got {opts.weight_decay}", context={"weight_decay": opts.weight_decay})
        overrides["weight_decay"] = opts.weight_decay
    if opts.replay_limit is not None and opts.replay_limit < 0:
        raise TrainerError(errors.CONFIG_INVALID, f"--replay-limit must be >= 0, got {opts.replay_limit}", context={"replay_limit": opts.replay_limit})
    tcfg = dataclasses.replace(tcfg, **overrides)
    rng = np.random.default_rng(opts.seed)

    main = load_manifest(opts.manifest)
    replays = [load_manifest(p) for p in opts.replay_manifests]
    train_items, n_replay = _train_items(main, replays, opts.replay_limit, rng)
    if not train_items:
        raise TrainerError(errors.CONFIG_INVALID, f"manifest {opts.manifest} has no train items", context={"manifest": opts.manifest})
    val_items = main.split("val")
    test_items = main.split("test") or val_items
    train_captions = [c for it in train_items for c in it.captions]

    parent_meta: dict[str, object] | None = None
    new_words: list[str] = []
    if opts.init_from:
        parent = load_checkpoint(opts.init_from)
        tokenizer, new_words = parent.tokenizer.extend(train_captions, tcfg.min_word_count)
        mcfg = dataclasses.replace(parent.model, vocab_size=tokenizer.size)
        params = extend_vocab(parent.params, parent.tokenizer.size, tokenizer.size, opts.seed)
        params = jax.tree_util.tree_map(jnp.asarray, params)
        learning_rate = opts.learning_rate or tcfg.finetune_learning_rate
        parent_meta = {"checkpoint": str(Path(opts.init_from).resolve()), "modelId": parent.meta.get("modelId"), "datasetVersion": parent.meta.get("datasetVersion")}
    else:
        longest = max(len(words(c)) for c in train_captions)
        max_len = min(preset.model.max_len, longest + 2 + MAX_LEN_HEADROOM)
        tokenizer = Tokenizer.build(train_captions, max_len, tcfg.min_word_count)
        mcfg = dataclasses.replace(preset.model, vocab_size=tokenizer.size, max_len=max_len)
        params = init_params(mcfg, opts.seed)
        learning_rate = tcfg.learning_rate

    model = Captioner(mcfg)
    per_image = tcfg.captions_per_image
    steps_per_epoch = math.ceil(len(train_items) / tcfg.batch_size)
    total_steps = steps_per_epoch * tcfg.epochs
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=learning_rate, warmup_steps=min(tcfg.warmup_steps, max(total_steps // 4, 1)),
        decay_steps=max(total_steps, 2), end_value=learning_rate * 0.05,
    )
    optimizer = optax.chain(optax.clip_by_global_norm(tcfg.grad_clip), optax.adamw(schedule, weight_decay=tcfg.weight_decay))
    # Data parallelism: parameters replicated, every batch split along its first axis over the
    # devices (one device when the batch sizes do not divide).
    devices = jax.devices()[:max(1, tcfg.data_parallel)]
    if any(size % len(devices) for size in (tcfg.batch_size, EVAL_BATCH, VAL_IMAGES)):
        devices = devices[:1]
    mesh = Mesh(np.array(devices), ("batch",))
    replicated, split = NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("batch"))
    params = jax.device_put(params, replicated)
    opt_state = jax.device_put(optimizer.init(params), replicated)
    loss_fn = _loss_fn(model, tcfg.label_smoothing)

    ema_decay = tcfg.ema_decay

    @partial(jax.jit, in_shardings=(replicated, replicated, replicated, replicated, split, split, split), out_shardings=replicated)
    def train_step(params, opt_state, ema, step, images, tokens, weights):
        loss, grads = jax.value_and_grad(loss_fn)(params, images, tokens, weights)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if ema_decay:
            decay = jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))
            ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)
        return params, opt_state, ema, loss

    eval_loss = jax.jit(loss_fn, in_shardings=(replicated, split, split, split))
    decoder = greedy_decoder(mcfg, replicated, split)

    emit({
        "event": "start", "config": preset.name, "datasetVersion": main.dataset_version, "trainItems": len(train_items),
        "replayItems": n_replay, "valItems": len(val_items), "testItems": len(test_items), "vocabSize": tokenizer.size,
        "newWords": new_words, "maxLen": mcfg.max_len, "paramCount": count_params(params), "epochs": tcfg.epochs,
        "steps": total_steps, "seed": opts.seed, "initFrom": parent_meta,
    })

    train_images = load_images(train_items, mcfg.image_size)
    train_table, train_counts = _caption_table(train_items, tokenizer)
    val_images = load_images(val_items, mcfg.image_size)
    val_table, val_counts = _caption_table(val_items, tokenizer) if val_items else (None, None)

    # A stream of its own, so that turning augmentation on leaves the shuffles and draws unchanged.
    shift_rng = np.random.default_rng([opts.seed, 1])
    # The weights validated, evaluated and saved: the moving average when it is on.
    ema = params if ema_decay else None
    step = 0
    history: list[dict[str, object]] = []
    for epoch in range(1, tcfg.epochs + 1):
        order = rng.permutation(len(train_items))
        losses: list[float] = []
        for b in range(steps_per_epoch):
            idx = order[b * tcfg.batch_size:(b + 1) * tcfg.batch_size]
            pad = _pad_batch(len(idx), tcfg.batch_size)
            images = train_images[idx]
            weights = np.ones((len(idx),), np.float32)
            if per_image == 1:
                # One reference per image per epoch, drawn at random: every phrasing gets seen.
                pick = (rng.random(len(idx)) * train_counts[idx]).astype(np.int32)
                tokens = train_table[idx, pick]
            else:
                tokens = train_table[idx[:, None], _draw_references(rng, train_counts[idx], per_image)]
            if tcfg.shift_pixels:
                images = _shift_images(shift_rng, images, tcfg.shift_pixels)
            if pad:
                # Fixed batch shape (one compilation); padded rows weigh nothing.
                tokens = np.concatenate([tokens, np.repeat(tokens[:1], pad, 0)])
                images = np.concatenate([images, np.repeat(images[:1], pad, 0)])
                weights = np.concatenate([weights, np.zeros((pad,), np.float32)])
            if per_image > 1:
                tokens = tokens.reshape(-1, tokens.shape[-1])
                weights = np.repeat(weights, per_image)
            params, opt_state, ema, loss = train_step(params, opt_state, ema, step, images, tokens, weights)
            step += 1
            losses.append(float(loss))
            if step % tcfg.log_every == 0 or b == steps_per_epoch - 1:
                if not math.isfinite(losses[-1]):
                    raise TrainerError(errors.TRAINING_FAILED, f"loss became {losses[-1]} at step {step}", context={"step": step})
                emit({"event": "progress", "epoch": epoch, "epochs": tcfg.epochs, "step": step, "steps": total_steps,
                      "loss": round(losses[-1], 5), "lr": float(schedule(step)), "elapsedSec": round(time.time() - started, 2)})
        record: dict[str, object] = {"event": "epoch", "epoch": epoch, "epochs": tcfg.epochs, "trainLoss": round(float(np.mean(losses)), 5)}
        if val_table is not None:
            scored = ema if ema is not None else params
            record["valLoss"] = round(_mean_loss(eval_loss, scored, val_images, val_table, val_counts), 5)
            record.update(_curve_metrics(decoder, scored, tokenizer, val_items[:CURVE_VAL_ITEMS], val_images[:CURVE_VAL_ITEMS]))
        record["elapsedSec"] = round(time.time() - started, 2)
        history.append(record)
        emit(record)

    train_seconds = time.time() - started
    if ema is not None:
        params = ema
    # The decoder compiled for the curves: a second jit of the same program would compile again.
    metrics = evaluate(mcfg, params, tokenizer, test_items, decoder)
    metrics_split = "test" if main.split("test") else "val"
    meta: dict[str, object] = {
        "datasetVersion": main.dataset_version,
        "manifest": str(Path(opts.manifest).resolve()),
        "replayDatasetVersions": [m.dataset_version for m in replays],
        "preset": preset.name,
        "train": dataclasses.asdict(tcfg) | {"learning_rate": learning_rate},
        "seed": opts.seed,
        "initFrom": parent_meta,
        "newWords": new_words,
        "paramCount": count_params(params),
        "trainItems": len(train_items),
        "createdAt": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "trainerVersion": __version__,
        "jax": jax.__version__,
    }
    out_dir = Path(opts.out)
    model_id = save_checkpoint(out_dir, mcfg, params, tokenizer, meta)
    report = {"modelId": model_id, "split": metrics_split, **metrics, "history": history, "trainSeconds": round(train_seconds, 2)}
    (out_dir / METRICS_FILE).write_text(json.dumps(report, indent=1) + "\n")
    done = {
        "event": "done", "checkpoint": str(out_dir.resolve()), "modelId": model_id, "datasetVersion": main.dataset_version,
        "metrics": {k: v for k, v in metrics.items() if k != "samples"}, "metricsSplit": metrics_split,
        "steps": step, "trainSeconds": round(train_seconds, 2), "totalSeconds": round(time.time() - started, 2),
    }
    emit(done)
    return done


def _mean_loss(eval_loss, params: dict, images: np.ndarray, table: np.ndarray, counts: np.ndarray) -> float:
    """Mean token loss over every (image, reference) pair.

    Each image is encoded once for all of its references (VAL_IMAGES images x every reference
    per batch): the encoder is most of the model's cost, and encoding an image once per
    reference made the per-epoch validation loss cost about a sixth of the training steps.
    """
    refs = table.shape[1]
    row_tokens = (table[:, :, 1:] != PAD).sum(axis=2)  # [n, refs] target tokens per reference
    total, tokens = 0.0, 0.0
    for start in range(0, len(counts), VAL_IMAGES):
        idx = np.arange(start, min(start + VAL_IMAGES, len(counts)))
        img, tok = images[idx], table[idx]
        w = (np.arange(refs)[None, :] < counts[idx][:, None]).astype(np.float32)
        n_tokens = float((row_tokens[idx] * w).sum())
        pad = _pad_batch(len(idx), VAL_IMAGES)
        if pad:
            img = np.concatenate([img, np.repeat(img[:1], pad, 0)])
            tok = np.concatenate([tok, np.repeat(tok[:1], pad, 0)])
            w = np.concatenate([w, np.zeros((pad, refs), np.float32)])
        loss = float(eval_loss(params, img, tok.reshape(-1, tok.shape[-1]), w.reshape(-1)))
        total += loss * n_tokens
        tokens += n_tokens
    return total / max(tokens, 1.0)


def greedy_decoder(mcfg: ModelConfig, params_sharding: NamedSharding | None = None, batch_sharding: NamedSharding | None = None):
    """The compiled greedy decoder of a model shape: compile once, call every epoch (with
    shardings: parameters replicated, the image batch split over the training devices)."""
    decode = lambda p, x: greedy_decode(mcfg, p, x, BOS, EOS, PAD)  # noqa: E731
    if params_sharding is None:
        return jax.jit(decode)
    return jax.jit(decode, in_shardings=(params_sharding, batch_sharding))


def _curve_metrics(decode, params: dict, tokenizer: Tokenizer, items: list[Item], images: np.ndarray) -> dict[str, float]:
    """Validation BLEU-4 and CIDEr-D of greedy captions: the points of the learning curves."""
    if not items:
        return {}
    captions = predict(None, params, tokenizer, images, decode)
    scores = caption_metrics({it.id: c for it, c in zip(items, captions)}, {it.id: list(it.captions) for it in items})
    return {"valBleu4": round(scores["bleu4"], 5), "valCiderD": round(scores["cider"], 5), "valItems": len(items)}


def predict(mcfg: ModelConfig | None, params: dict, tokenizer: Tokenizer, images: np.ndarray, decode=None) -> list[str]:
    """Greedy captions for [n, 3, H, W] normalised images (with `decode` from `greedy_decoder`, or one built for `mcfg`)."""
    if decode is None:
        assert mcfg is not None
        decode = greedy_decoder(mcfg)
    out: list[str] = []
    for start in range(0, len(images), EVAL_BATCH):
        chunk = images[start:start + EVAL_BATCH]
        pad = _pad_batch(len(chunk), EVAL_BATCH)
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], pad, 0)])
        ids = np.asarray(decode(params, chunk))[: EVAL_BATCH - pad]
        out.extend(tokenizer.decode(row[1:]) for row in ids)
    return out


def evaluate(mcfg: ModelConfig, params: dict, tokenizer: Tokenizer, items: list[Item], decode=None) -> dict[str, object]:
    """Greedy-decode `items` and score them against their references (`decode`: from `greedy_decoder`, else built here)."""
    if not items:
        return {"bleu1": 0.0, "bleu2": 0.0, "bleu3": 0.0, "bleu4": 0.0, "cider": 0.0, "exactMatch": 0.0, "samples": []}
    captions = predict(mcfg, params, tokenizer, load_images(items, mcfg.image_size), decode)
    preds = {it.id: c for it, c in zip(items, captions)}
    refs = {it.id: list(it.captions) for it in items}
    scores: dict[str, object] = dict(caption_metrics(preds, refs))
    scores["items"] = len(items)
    scores["samples"] = [{"id": it.id, "prediction": preds[it.id], "references": refs[it.id]} for it in items[:5]]
    return scores
