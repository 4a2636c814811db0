"""A captioner checkpoint of a realistic size for the serving benchmark, then the trainer's export.

Usage: python make_bench_model.py <out-dir> <tokenizer.json>

The architecture is the trainer's (strided CNN encoder, transformer decoder) at a size closer to
a deployed captioner than the test fixtures: 128 px input, 4 encoder stages of two convolutions,
a 3-layer decoder of width 256 and a 2048-word vocabulary. The weights are the trainer's
initialisation from a fixed seed, not trained: the benchmark measures serving, and untrained
weights rarely emit the end token, so nearly every caption runs to the maximum length (the
decoder's worst case, the same on every side). Training it would cost many minutes of two
shared cores for no change in the work per image.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from captionflow_trainer.checkpoint import save_checkpoint
from captionflow_trainer.config import ModelConfig
from captionflow_trainer.model import count_params, init_params
from captionflow_trainer.tokenizer import Tokenizer

BENCH_MODEL = dict(image_size=128, channels=(32, 64, 128, 256), convs_per_stage=1, dim=256, heads=4, layers=3, mlp_ratio=4, max_len=24)
VOCAB = 2048


def main() -> None:
    out = Path(sys.argv[1])
    words = Tokenizer.load(Path(sys.argv[2])).vocab
    # A deployed captioner's vocabulary has thousands of words, which sizes the decoder's output
    # projection: the trained words, then filler words up to VOCAB.
    tokenizer = Tokenizer(vocab=words + [f"word{i}" for i in range(VOCAB - len(words))], max_len=BENCH_MODEL["max_len"])
    config = ModelConfig(**BENCH_MODEL, vocab_size=tokenizer.size)
    params = init_params(config, seed=7)
    save_checkpoint(out / "checkpoint", config, params, tokenizer, {"preset": "serving-bench", "paramCount": count_params(params), "datasetVersion": "untrained"})
    subprocess.run([sys.executable, "-m", "captionflow_trainer", "export", "--checkpoint", str(out / "checkpoint"), "--out", str(out / "onnx"), "--no-parity"], check=True, stdout=sys.stderr)
    print(json.dumps({"paramCount": count_params(params), "onnx": str(out / "onnx")}))


if __name__ == "__main__":
    main()
