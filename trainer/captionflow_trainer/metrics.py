"""Caption metrics through pycocoevalcap, the reference implementation the TS side cross-checks against."""

from __future__ import annotations

import contextlib
import sys

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider

from .tokenizer import words


def caption_metrics(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 ('closest' reference length, as in COCO) and CIDEr-D over lower-cased words.

    Texts are tokenized with the trainer's word splitter (not the PTB Java tokenizer), so the
    numbers match what the TS metrics compute from the same normalised words.
    """
    if not predictions:
        return {"bleu1": 0.0, "bleu2": 0.0, "bleu3": 0.0, "bleu4": 0.0, "cider": 0.0, "exactMatch": 0.0}
    res = {k: [" ".join(words(v))] for k, v in predictions.items()}
    gts = {k: [" ".join(words(r)) for r in references[k]] for k in predictions}
    # pycocoevalcap prints to stdout, which is the trainer's JSON-lines channel.
    with contextlib.redirect_stdout(sys.stderr):
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        cider, _ = Cider().compute_score(gts, res)
    exact = sum(res[k][0] in gts[k] for k in res) / len(res)
    return {
        "bleu1": float(bleu[0]),
        "bleu2": float(bleu[1]),
        "bleu3": float(bleu[2]),
        "bleu4": float(bleu[3]),
        "cider": float(cider),
        "exactMatch": float(exact),
    }
