"""The stack captionflow serving replaces, as a benchmark peer: a FastAPI service under uvicorn
that captions an uploaded image with onnxruntime (Python, from PyPI), as the old Model
Deploying Service did (`POST /api/v1/model/predict-caption`), on the same ONNX bundle.

Same work per image as captionflow: decode (EXIF orientation applied, first frame), resize to the
model's exact size (bilinear, aspect ratio not kept: the bundle's `fill`), drop alpha, 8-bit RGB,
`((pixel * scale) - mean) / std` channel-planar; the encoder once, then greedy decoding (argmax of
the last position) until the end token or the bundle's max length, on the decoder's KV cache when
it has one, as captionflow does (optimum's merged layout: the first step without a cache, then one
token per step with the presents of the step before as `past_key_values.*`; the cross-attention
keys/values from the first step), else re-running the whole prefix each step. One image per request and no batching across requests, as the old
service did; the endpoint is a plain `def`, so uvicorn runs concurrent requests on its thread pool
(onnxruntime releases the GIL), and each session uses onnxruntime's default intra-op threads
(one per core).

Run: python fastapi_serving.py <bundle-dir> <port>   (then poll the port)
Env: PEER_INTRA_OP_THREADS (default 0: onnxruntime's choice, one per core).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, File, HTTPException, UploadFile
from PIL import Image, ImageOps

BUNDLE = Path(sys.argv[1])
PORT = int(sys.argv[2])
MODEL = json.loads((BUNDLE / "model.json").read_text())
PRE = MODEL["preprocess"]
VOCAB = json.loads((BUNDLE / (MODEL.get("tokenizer") or "tokenizer.json")).read_text())["vocab"]
START = int(MODEL["decoderStartTokenId"])
EOS = int(MODEL["eosTokenId"])
MAX_LENGTH = int(MODEL["maxLength"])
SPECIAL = set(MODEL["tokens"].values())

options = ort.SessionOptions()
options.intra_op_num_threads = int(os.environ.get("PEER_INTRA_OP_THREADS", "0"))
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
options.log_severity_level = 3
encoder = ort.InferenceSession(str(BUNDLE / MODEL["encoder"]["file"]), options, providers=["CPUExecutionProvider"])
decoder = ort.InferenceSession(str(BUNDLE / MODEL["decoder"]["file"]), options, providers=["CPUExecutionProvider"])
PIXELS = MODEL["encoder"]["inputs"][0]["name"]
HIDDEN_OUT = MODEL["encoder"]["outputs"][0]["name"]
IDS, HIDDEN_IN = (i["name"] for i in MODEL["decoder"]["inputs"][:2])
LOGITS = MODEL["decoder"]["outputs"][0]["name"]
DECODER_INPUTS = {i.name: i for i in decoder.get_inputs()}
PASTS = [n for n in DECODER_INPUTS if n.startswith("past_key_values.")]
CACHED = "use_cache_branch" in DECODER_INPUTS and bool(PASTS)
PRESENT = {p: "present." + p[len("past_key_values."):] for p in PASTS}
MEAN = np.asarray(PRE["mean"], np.float32).reshape(3, 1, 1)
STD = np.asarray(PRE["std"], np.float32).reshape(3, 1, 1)
RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}[PRE.get("resize", "bilinear")]

app = FastAPI()


def preprocess(data: bytes) -> np.ndarray:
    img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    rgb = img.convert("RGB").resize((PRE["width"], PRE["height"]), RESAMPLE)
    chw = np.asarray(rgb, np.float32).transpose(2, 0, 1)
    return ((chw * np.float32(PRE["scale"]) - MEAN) / STD)[None]


def greedy(pixels: np.ndarray) -> list[int]:
    hidden = encoder.run([HIDDEN_OUT], {PIXELS: pixels})[0]
    ids = [START]
    out: list[int] = []
    past: dict[str, np.ndarray] | None = None
    while len(ids) < MAX_LENGTH:
        if not CACHED:
            logits = decoder.run([LOGITS], {IDS: np.asarray([ids], np.int64), HIDDEN_IN: hidden})[0]
        elif past is None:
            feeds = {IDS: np.asarray([ids], np.int64), HIDDEN_IN: hidden, "use_cache_branch": np.array([False])}
            for p in PASTS:
                heads, head_dim = DECODER_INPUTS[p].shape[1], DECODER_INPUTS[p].shape[3]
                feeds[p] = np.zeros((1, heads, 0, head_dim), np.float32)
            got = decoder.run([LOGITS, *PRESENT.values()], feeds)
            logits, past = got[0], dict(zip(PASTS, got[1:]))
        else:
            # Cross-attention presents are only passed through on cached steps: keep the first step's.
            selfs = [p for p in PASTS if ".encoder." not in p]
            feeds = {IDS: np.asarray([ids[-1:]], np.int64), HIDDEN_IN: hidden, "use_cache_branch": np.array([True]), **past}
            got = decoder.run([LOGITS, *(PRESENT[p] for p in selfs)], feeds)
            logits = got[0]
            past.update(zip(selfs, got[1:]))
        token = int(logits[0, -1].argmax())
        ids.append(token)
        if token == EOS:
            break
        out.append(token)
    return out


@app.post("/api/v1/model/predict-caption")
def predict_caption(image: UploadFile = File(...)) -> dict[str, object]:
    started = time.perf_counter()
    try:
        pixels = preprocess(image.file.read())
    except Exception as err:  # noqa: BLE001 - any decoder error is the client's image
        raise HTTPException(status_code=400, detail=f"cannot decode image: {err}") from None
    tokens = greedy(pixels)
    text = " ".join(VOCAB[t] for t in tokens if t not in SPECIAL)
    return {"caption": text, "modelId": MODEL.get("modelId"), "ms": round((time.perf_counter() - started) * 1000, 1)}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", access_log=False)
