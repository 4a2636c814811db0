"""Reference scores from pycocoevalcap for the parity test.

Reads JSON from stdin: {"cases": [{"gts": {id: [tokenized refs]}, "res": {id: [tokenized hyp]}}]}
(captions already tokenized and space-joined, so no PTBTokenizer/Java is involved) and writes
JSON to stdout: {"version": ..., "cases": [{"bleu": [b1..b4], "bleuPerImage": [[...]x4],
"rougeL": x, "rougeLPerImage": [...], "ciderD": x, "ciderDPerImage": [...], "ids": [...]}]}.

pycocoevalcap's `Cider` class is the CIDEr-D formulation (clipped tf-idf similarity, Gaussian
length penalty with sigma=6, x10, document frequency over the evaluated references); the
TypeScript `ciderD` mirrors it. Per-image lists follow the order of `gts`' keys.
"""

import json
import sys
from importlib.metadata import version

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge


def score(case):
    gts = case["gts"]
    res = case["res"]
    bleu, bleu_per_image = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_per_image = Rouge().compute_score(gts, res)
    cider, cider_per_image = Cider().compute_score(gts, res)
    return {
        "ids": list(gts.keys()),
        "bleu": [float(b) for b in bleu],
        "bleuPerImage": [[float(v) for v in order] for order in bleu_per_image],
        "rougeL": float(rouge),
        "rougeLPerImage": [float(v) for v in rouge_per_image],
        "ciderD": float(cider),
        "ciderDPerImage": [float(v) for v in cider_per_image],
    }


def main():
    payload = json.load(sys.stdin)
    out = {"version": version("pycocoevalcap"), "cases": [score(c) for c in payload["cases"]]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
