"""CLI: `python -m captionflow_trainer train|export|synth ...`.

stdout carries only JSON lines (progress, done, error); everything else goes to stderr.
Exit codes: 0 success, 2 invalid arguments/config, 1 any other failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

# CPU only, and quiet: set before anything imports jax (the commands import it lazily).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Two host devices, whatever the machine: training splits each batch over them
# (TrainConfig.data_parallel), and the same device count keeps a run reproducible everywhere.
# CAPTIONFLOW_TRAIN_DEVICES overrides it (1 = the single-device path).
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    _devices = os.environ.get("CAPTIONFLOW_TRAIN_DEVICES", "2")
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={_devices}".strip()

from . import errors  # noqa: E402
from .config import PRESETS  # noqa: E402
from .errors import TrainerError  # noqa: E402
from .events import emit_stdout  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="captionflow_trainer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train (or fine-tune) a captioner from a manifest into a checkpoint directory")
    t.add_argument("--manifest", required=True, help="dataset version manifest (JSON)")
    t.add_argument("--out", required=True, help="checkpoint directory to write")
    t.add_argument("--init-from", dest="init_from", help="parent checkpoint directory to fine-tune from")
    t.add_argument("--config", default="default", choices=sorted(PRESETS), help="preset (default: default)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=int, help="override the preset's epoch count")
    t.add_argument("--batch-size", dest="batch_size", type=int)
    t.add_argument("--learning-rate", dest="learning_rate", type=float)
    t.add_argument("--captions-per-image", dest="captions_per_image", type=int,
                   help="references decoded per image per step (override the preset's)")
    t.add_argument("--label-smoothing", dest="label_smoothing", type=float, help="override the preset's label smoothing")
    t.add_argument("--ema-decay", dest="ema_decay", type=float, help="override the preset's EMA decay of the weights (0 = off)")
    t.add_argument("--shift-pixels", dest="shift_pixels", type=int, help="override the preset's random train-image translation (0 = off)")
    t.add_argument("--weight-decay", dest="weight_decay", type=float, help="override the preset's AdamW weight decay")
    t.add_argument("--replay-manifest", dest="replay_manifests", action="append", default=[], metavar="MANIFEST",
                   help="earlier dataset version whose train items are mixed in (repeatable)")
    t.add_argument("--replay-limit", dest="replay_limit", type=int, help="at most this many replayed items")

    e = sub.add_parser("export", help="export a checkpoint to encoder.onnx + decoder.onnx + model.json")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--no-parity", dest="parity", action="store_false", help="skip the JAX-vs-onnxruntime check and parity.json")

    s = sub.add_parser("synth", help="write a small synthetic scene dataset + manifest (tests and measurements only)")
    s.add_argument("--out", required=True)
    s.add_argument("--count", type=int, default=200)
    s.add_argument("--size", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--format", dest="image_format", default="png", choices=["png", "jpg", "webp"])
    s.add_argument("--palette", help="comma-separated colour names (default: red,green,blue,yellow,purple)")
    s.add_argument("--dataset-version", dest="dataset_version")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("train", "export"):
        from .compile_cache import enable_compile_cache

        enable_compile_cache()
    try:
        if args.command == "train":
            from .train import TrainOptions, train

            train(TrainOptions(
                manifest=args.manifest, out=args.out, config=args.config, init_from=args.init_from, seed=args.seed,
                epochs=args.epochs, replay_manifests=tuple(args.replay_manifests), replay_limit=args.replay_limit,
                batch_size=args.batch_size, learning_rate=args.learning_rate,
                captions_per_image=args.captions_per_image, label_smoothing=args.label_smoothing,
                ema_decay=args.ema_decay, shift_pixels=args.shift_pixels, weight_decay=args.weight_decay,
            ))
        elif args.command == "export":
            from .export_onnx import export

            export(args.checkpoint, args.out, parity=args.parity, emit=emit_stdout)
        else:
            from pathlib import Path

            from .synthetic import DEFAULT_PALETTE, make_dataset

            palette = tuple(args.palette.split(",")) if args.palette else DEFAULT_PALETTE
            path = make_dataset(Path(args.out), args.count, size=args.size, seed=args.seed, dataset_version=args.dataset_version,
                                image_format=args.image_format, palette=palette)
            emit_stdout({"event": "done", "manifest": str(path.resolve())})
        return 0
    except TrainerError as exc:
        emit_stdout(exc.to_event())
        return 2 if exc.code == errors.CONFIG_INVALID else 1
    except Exception as exc:  # noqa: BLE001 - the caller needs one error line whatever happened
        traceback.print_exc(file=sys.stderr)
        emit_stdout(TrainerError(errors.TRAINING_FAILED if args.command == "train" else errors.INTERNAL, f"{type(exc).__name__}: {exc}").to_event())
        return 1


if __name__ == "__main__":
    sys.exit(main())
