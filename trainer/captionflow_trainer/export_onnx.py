"""ONNX export: encoder.onnx + decoder.onnx (+ model.json, tokenizer.json, parity.json).

The decoder has a KV cache in the layout of optimum's decoder_model_merged.onnx (an If on
`use_cache_branch`: the first step runs the prefix without a cache, later steps one token on the
`past_key_values.*` of the step before; cross-attention keys/values are computed once).

The graphs are written node by node with `onnx.helper` from the trained parameters; every
node mirrors one operation of `model.py`. That needs no TensorFlow and no tracing library,
gives the inputs/outputs their contract names and dtypes (int64 ids) directly, and supports
a dynamic batch and a dynamic sequence length (the position table and the causal mask are
sliced to the actual length inside the graph). After writing, the export runs both graphs in
onnxruntime against JAX on fixed random inputs and refuses to finish (MODEL_INVALID) if they
disagree by more than PARITY_TOLERANCE; the inputs and JAX outputs go to parity.json so
another runtime (onnxruntime-node) can run the same check.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import __version__, errors
from .checkpoint import TOKENIZER_FILE, Checkpoint, load_checkpoint
from .config import ModelConfig
from .errors import TrainerError
from .events import Emit, emit_nothing
from .model import LN_EPS, MASK_VALUE, PIXEL_MEAN, PIXEL_STD, Captioner, count_params, greedy_decode
from .tokenizer import BOS, EOS, PAD, UNK

OPSET = 17  # LayerNormalization needs 17; onnxruntime(-node) >= 1.14 runs it
IR_VERSION = 8  # the IR of opset 17; newer IRs are refused by older runtimes for no gain here
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
MODEL_FILE = "model.json"
PARITY_FILE = "parity.json"
PARITY_TOLERANCE = 1e-4
PARITY_SEED = 1234


class _Graph:
    """A tiny builder: initializers and nodes with generated unique names.

    `sub()` starts the body of an If branch: its nodes are its own, but constants go to the
    outer graph's initializers (a branch reads them from the outer scope) and names stay unique
    across both; `weight()` stores a parameter once however many branches use it.
    """

    def __init__(self, parent: "_Graph | None" = None) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = [] if parent is None else parent.inits
        self._root: _Graph = self if parent is None else parent._root
        self._n = 0
        self._weights: dict[str, str] = {}

    def sub(self) -> "_Graph":
        return _Graph(self)

    def name(self, hint: str) -> str:
        root = self._root
        root._n += 1
        return f"{hint}_{root._n}"

    def const(self, hint: str, value: np.ndarray) -> str:
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), n))
        return n

    def weight(self, hint: str, value: np.ndarray) -> str:
        """A parameter initializer, shared by every branch that asks for `hint`."""
        cache = self._root._weights
        if hint not in cache:
            cache[hint] = self.const(hint, value)
        return cache[hint]

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, output: str | None = None, **attrs: object) -> str:
        out = output or self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type), **attrs))
        return out

    def dense(self, x: str, p: dict, hint: str) -> str:
        y = self.op("MatMul", [x, self.weight(f"{hint}_kernel", _f32(p["kernel"]))])
        return self.op("Add", [y, self.weight(f"{hint}_bias", _f32(p["bias"]))], hint)

    def layer_norm(self, x: str, p: dict, hint: str, output: str | None = None) -> str:
        return self.op("LayerNormalization", [x, self.weight(f"{hint}_scale", _f32(p["scale"])), self.weight(f"{hint}_bias", _f32(p["bias"]))],
                       hint, output, axis=-1, epsilon=LN_EPS)

    def graph(self, name: str, outputs: list[str]) -> onnx.GraphProto:
        """This branch as a subgraph with `outputs` (types left to inference)."""
        return helper.make_graph(self.nodes, name, [], [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs])

    def model(self, name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto], meta: dict[str, str]) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="captionflow_trainer",
                                  producer_version=__version__)
        model.ir_version = IR_VERSION
        helper.set_model_props(model, meta)
        onnx.checker.check_model(model, full_check=True)
        return model


def _f32(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def build_encoder(cfg: ModelConfig, params: dict, meta: dict[str, str]) -> onnx.ModelProto:
    g = _Graph()
    x = "pixel_values"

    def conv(x: str, stride: int, name: str) -> str:
        p = params[name]
        # Flax HWIO kernels -> ONNX OIHW; both are cross-correlations.
        w = g.const(f"{name}_w", _f32(p["kernel"]).transpose(3, 2, 0, 1))
        b = g.const(f"{name}_b", _f32(p["bias"]))
        return g.op("Relu", [g.op("Conv", [x, w, b], kernel_shape=[3, 3], strides=[stride, stride], pads=[1, 1, 1, 1])])

    if cfg.stem_channels:
        x = conv(x, 1, "stem")
    for stage in range(len(cfg.channels)):
        x = conv(x, 2, f"conv{stage}_0")
        for j in range(cfg.convs_per_stage):
            x = conv(x, 1, f"conv{stage}_{j + 1}")
    p = params["proj"]
    x = g.op("Conv", [x, g.const("proj_w", _f32(p["kernel"]).transpose(3, 2, 0, 1)), g.const("proj_b", _f32(p["bias"]))], kernel_shape=[1, 1])
    seq = cfg.grid * cfg.grid
    x = g.op("Reshape", [x, g.const("flat_shape", np.array([0, cfg.dim, seq], np.int64))])  # [B, D, S], rows y*grid+x as in Flax
    x = g.op("Transpose", [x], perm=[0, 2, 1])  # [B, S, D]
    x = g.op("Add", [x, g.const("pos", _f32(params["pos"]))])
    g.layer_norm(x, params["ln"], "ln", output="encoder_hidden_states")
    size = cfg.image_size
    return g.model(
        "captionflow_encoder",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", seq, cfg.dim])],
        meta,
    )


def _heads(g: _Graph, x: str, p: dict, cfg: ModelConfig, hint: str) -> str:
    """A dense projection split into heads: [B, T, D] -> [B, H, T, dh] (the cache layout)."""
    split = g.const(f"{hint}_split", np.array([0, 0, cfg.heads, cfg.dim // cfg.heads], np.int64))
    return g.op("Transpose", [g.op("Reshape", [g.dense(x, p, hint), split])], perm=[0, 2, 1, 3])


def _attend(g: _Graph, q: str, k: str, v: str, mask: str | None, p: dict, cfg: ModelConfig, hint: str) -> str:
    """softmax(q k^T / sqrt(dh) + mask) v, heads merged, output projection; q [B,H,T,dh], k and v [B,H,S,dh]."""
    head_dim = cfg.dim // cfg.heads
    kt = g.op("Transpose", [k], perm=[0, 1, 3, 2])  # [B,H,dh,S]
    scores = g.op("Mul", [g.op("MatMul", [q, kt]), g.const(f"{hint}_scale", np.array(1.0 / math.sqrt(head_dim), np.float32))])
    if mask is not None:
        scores = g.op("Add", [scores, mask])
    weights = g.op("Softmax", [scores], axis=-1)
    out = g.op("Transpose", [g.op("MatMul", [weights, v])], perm=[0, 2, 1, 3])
    out = g.op("Reshape", [out, g.const(f"{hint}_merge", np.array([0, 0, cfg.dim], np.int64))])
    return g.dense(out, p["o"], f"{hint}_o")


def past_names(layers: int) -> list[str]:
    """The cache inputs of the merged decoder, in optimum's names and order."""
    return [f"past_key_values.{i}.{part}.{kv}" for i in range(layers) for part in ("decoder", "encoder") for kv in ("key", "value")]


def present_names(layers: int) -> list[str]:
    return [n.replace("past_key_values.", "present.") for n in past_names(layers)]


def _decoder_branch(g: _Graph, cfg: ModelConfig, params: dict, cached: bool) -> list[str]:
    """One branch of the merged decoder; returns its outputs: logits, then the presents.

    Without the cache: input_ids is the whole prefix from position 0; the self-attention keys and
    values of every position and the cross-attention keys and values of encoder_hidden_states
    are returned as presents. With it: input_ids are the tokens after the past, positions start
    at the past length, self-attention runs on past ++ new keys/values, cross-attention on the
    past encoder keys/values (computed once), and the cross presents are empty.
    """
    ids, enc = "input_ids", "encoder_hidden_states"
    length = g.op("Shape", [ids], "seq_len", start=1, end=2)  # [T]
    zero = g.const("zero", np.array([0], np.int64))
    if cached:
        start = g.op("Shape", ["past_key_values.0.decoder.key"], "past_len", start=2, end=3)  # [P]
        end = g.op("Add", [start, length], "total_len")  # [P + T]
    else:
        start, end = zero, length
    pos = g.op("Slice", [g.weight("pos_emb", _f32(params["pos_emb"])), start, end, zero])  # [T, D]
    x = g.op("Add", [g.op("Gather", [g.weight("tok_emb", _f32(params["tok_emb"])), ids], axis=0), pos])
    full_mask = np.where(np.tril(np.ones((cfg.max_len, cfg.max_len), bool)), 0.0, MASK_VALUE).astype(np.float32)
    # Rows P..P+T of the causal mask, columns 0..P+T: new position t sees the past and new positions <= t.
    mask = g.op("Slice", [g.weight("causal_mask", full_mask), g.op("Concat", [start, zero], axis=0),
                          g.op("Concat", [end, end], axis=0), g.const("axes01", np.array([0, 1], np.int64))])  # [T, P+T]
    presents: list[str] = []
    for i in range(cfg.layers):
        p = params[f"layer{i}"]
        h = g.layer_norm(x, p["ln_self"], f"l{i}_ln_self")
        sa = p["self_attn"]
        q = _heads(g, h, sa["q"], cfg, f"l{i}_self_q")
        k = _heads(g, h, sa["k"], cfg, f"l{i}_self_k")
        v = _heads(g, h, sa["v"], cfg, f"l{i}_self_v")
        if cached:
            k = g.op("Concat", [f"past_key_values.{i}.decoder.key", k], axis=2)
            v = g.op("Concat", [f"past_key_values.{i}.decoder.value", v], axis=2)
        x = g.op("Add", [x, _attend(g, q, k, v, mask, sa, cfg, f"l{i}_self")])
        h = g.layer_norm(x, p["ln_cross"], f"l{i}_ln_cross")
        ca = p["cross_attn"]
        q = _heads(g, h, ca["q"], cfg, f"l{i}_cross_q")
        if cached:
            ck, cv = f"past_key_values.{i}.encoder.key", f"past_key_values.{i}.encoder.value"
            # The cross presents of a cached step are empty ([batch, heads, 0, head_dim]): passing
            # the pasts through (an Identity each) copied every row's keys and values every step
            # (6 MiB a step at batch 16 on the serving bench model, ~12 % of the decoder's kernel
            # time), for outputs that callers do not use (they keep the first step's, as optimum does).
            axis2 = g.const("axis2", np.array([2], np.int64))
            pk, pv = (g.op("Slice", [name, zero, zero, axis2], f"l{i}_cross_{kv}_present") for name, kv in ((ck, "k"), (cv, "v")))
        else:
            ck = _heads(g, enc, ca["k"], cfg, f"l{i}_cross_k")
            cv = _heads(g, enc, ca["v"], cfg, f"l{i}_cross_v")
            pk, pv = ck, cv
        x = g.op("Add", [x, _attend(g, q, ck, cv, None, ca, cfg, f"l{i}_cross")])
        h = g.layer_norm(x, p["ln_mlp"], f"l{i}_ln_mlp")
        h = g.dense(h, p["fc1"], f"l{i}_fc1")
        # Exact GELU, as nn.gelu(approximate=False): 0.5 * h * (1 + erf(h / sqrt(2)))
        erf = g.op("Erf", [g.op("Div", [h, g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))])])
        h = g.op("Mul", [g.op("Mul", [h, g.op("Add", [erf, g.const("one", np.array(1.0, np.float32))])]), g.const("half", np.array(0.5, np.float32))])
        x = g.op("Add", [x, g.dense(h, p["fc2"], f"l{i}_fc2")])
        presents += [k, v, pk, pv]
    x = g.layer_norm(x, params["ln_out"], "ln_out")
    y = g.op("MatMul", [x, g.weight("head_kernel", _f32(params["head"]["kernel"]))])
    logits = g.op("Add", [y, g.weight("head_bias", _f32(params["head"]["bias"]))], "logits")
    return [logits, *presents]


def build_decoder(cfg: ModelConfig, params: dict, meta: dict[str, str]) -> onnx.ModelProto:
    """The decoder in the layout of optimum's decoder_model_merged.onnx (Hugging Face).

    Inputs: input_ids, encoder_hidden_states, use_cache_branch (bool [1]) and, per layer i,
    past_key_values.{i}.decoder.key/value [batch, heads, past_sequence, head_dim] (self-attention)
    and past_key_values.{i}.encoder.key/value [batch, heads, S, head_dim] (cross-attention).
    Outputs: logits [batch, sequence, vocab] for the positions fed, and the matching present.*.
    use_cache_branch false (first step): the pasts are ignored (feed them with past length 0).
    True: input_ids are only the new tokens, so each step costs one position and yields only its logits.
    """
    g = _Graph()
    # Each branch in its own subgraph builder; the parameters land once in g's initializers.
    with_cache, without_cache = g.sub(), g.sub()
    out_cached = _decoder_branch(with_cache, cfg, params, cached=True)
    out_plain = _decoder_branch(without_cache, cfg, params, cached=False)
    outputs = ["logits", *present_names(cfg.layers)]
    g.nodes.append(helper.make_node(
        "If", ["use_cache_branch"], outputs, name=g.name("If"),
        then_branch=with_cache.graph("decoder_with_past", out_cached),
        else_branch=without_cache.graph("decoder_without_past", out_plain),
    ))
    batch, heads, head_dim, seq = "batch", cfg.heads, cfg.dim // cfg.heads, cfg.grid * cfg.grid
    past_in, present_out = [], []
    # The encoder pasts' length is symbolic (as optimum's): the first step feeds them empty.
    for name in past_names(cfg.layers):
        length = "past_sequence" if ".decoder." in name else "encoder_sequence"
        past_in.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, heads, length, head_dim]))
    for name in present_names(cfg.layers):
        # Cross presents: the S encoder positions on the first step, none on cached steps.
        length = "present_sequence" if ".decoder." in name else "present_encoder_sequence"
        present_out.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, heads, length, head_dim]))
    return g.model(
        "captionflow_decoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", seq, cfg.dim]),
         helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]),
         *past_in],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", cfg.vocab_size]), *present_out],
        meta,
    )


def plain_feeds(cfg: ModelConfig, ids: np.ndarray, hidden: np.ndarray) -> dict[str, np.ndarray]:
    """Feeds of the merged decoder's no-cache branch: the whole prefix, empty pasts."""
    empty = np.zeros((ids.shape[0], cfg.heads, 0, cfg.dim // cfg.heads), np.float32)
    return {"input_ids": ids.astype(np.int64), "encoder_hidden_states": hidden, "use_cache_branch": np.array([False]),
            **{name: empty for name in past_names(cfg.layers)}}


def ort_greedy(cfg: ModelConfig, dec_sess: object, hidden: np.ndarray, *, cached: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """Greedy ids [batch, max_len] (bos first, pad after eos) with onnxruntime, and each step's last-position logits.

    cached=False re-runs the whole prefix every step (the no-cache branch); cached=True runs the
    first step without a cache, then one token per step on the presents of the step before.
    """
    batch = hidden.shape[0]
    tokens = np.full((batch, cfg.max_len), PAD, np.int64)
    tokens[:, 0] = BOS
    done = np.zeros(batch, bool)
    steps: list[np.ndarray] = []
    names = ["logits", *present_names(cfg.layers)]
    past: dict[str, np.ndarray] | None = None
    for t in range(1, cfg.max_len):
        if cached and past is not None:
            feeds = {"input_ids": tokens[:, t - 1:t], "encoder_hidden_states": hidden, "use_cache_branch": np.array([True]), **past}
        else:
            feeds = plain_feeds(cfg, tokens[:, :t], hidden)
        out = dec_sess.run(names, feeds)  # type: ignore[attr-defined]
        presents = dict(zip(past_names(cfg.layers), out[1:]))
        # Cached steps return empty cross presents: the first step's stay the pasts.
        past = presents if past is None else {n: past[n] if ".encoder." in n else v for n, v in presents.items()}
        last = out[0][:, -1, :]
        steps.append(last)
        nxt = np.where(done, PAD, last.argmax(-1))
        tokens[:, t] = nxt
        done |= nxt == EOS
        if done.all():
            break
    return tokens, steps


def model_descriptor(ck: Checkpoint) -> dict[str, object]:
    """model.json: everything a runtime needs to preprocess, run and decode."""
    cfg = ck.model
    seq = cfg.grid * cfg.grid
    return {
        "format": "captionflow-onnx-encoder-decoder",
        "formatVersion": 1,
        "modelId": ck.meta.get("modelId"),
        "datasetVersion": ck.meta.get("datasetVersion"),
        "architecture": {
            "name": "cnn-transformer-captioner",
            "encoder": (f"{cfg.stem_channels}-channel stride-1 stem, " if cfg.stem_channels else "")
            + f"{len(cfg.channels)}-stage strided CNN {list(cfg.channels)} -> {seq} x {cfg.dim} features",
            "decoder": f"{cfg.layers}-layer pre-LN transformer, {cfg.heads} heads, dim {cfg.dim}",
            **cfg.to_json(),
        },
        "paramCount": count_params(ck.params),
        "opset": OPSET,
        "encoder": {
            "file": ENCODER_FILE,
            "inputs": [{"name": "pixel_values", "dtype": "float32", "shape": ["batch", 3, cfg.image_size, cfg.image_size]}],
            "outputs": [{"name": "encoder_hidden_states", "dtype": "float32", "shape": ["batch", seq, cfg.dim]}],
        },
        "decoder": {
            "file": DECODER_FILE,
            "inputs": [
                {"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]},
                {"name": "encoder_hidden_states", "dtype": "float32", "shape": ["batch", seq, cfg.dim]},
                {"name": "use_cache_branch", "dtype": "bool", "shape": [1]},
                *({"name": n, "dtype": "float32", "shape": ["batch", cfg.heads, "past_sequence" if ".decoder." in n else "encoder_sequence", cfg.dim // cfg.heads]}
                  for n in past_names(cfg.layers)),
            ],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", "sequence", cfg.vocab_size]},
                        *({"name": n, "dtype": "float32", "shape": ["batch", cfg.heads, "present_sequence" if ".decoder." in n else "present_encoder_sequence", cfg.dim // cfg.heads]}
                          for n in present_names(cfg.layers))],
            # optimum's merged layout: use_cache_branch false on the first step (whole prefix, empty
            # pasts), then true with only the new token and the presents of the step before as pasts
            # (the cross-attention ones from the first step: cached steps return them empty).
            # Past + new positions must stay <= maxLength.
            "usesCache": True,
            "cache": {"layout": "hf-merged", "layers": cfg.layers, "heads": cfg.heads, "headDim": cfg.dim // cfg.heads},
        },
        "preprocess": {
            "width": cfg.image_size,
            "height": cfg.image_size,
            "layout": "NCHW",
            "channels": "RGB",
            "resize": "bilinear",
            "scale": 1.0 / 255.0,
            "mean": list(PIXEL_MEAN),
            "std": list(PIXEL_STD),
            "formula": "((pixel / 255) - mean[c]) / std[c]",
        },
        "tokens": {"pad": PAD, "bos": BOS, "eos": EOS, "unk": UNK},
        "decoderStartTokenId": BOS,
        "eosTokenId": EOS,
        "padTokenId": PAD,
        "maxLength": cfg.max_len,
        "vocabSize": cfg.vocab_size,
        "tokenizer": TOKENIZER_FILE,
        "parity": PARITY_FILE,
    }


def _tensor_json(a: np.ndarray) -> dict[str, object]:
    arr = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<")))
    return {"dims": list(arr.shape), "dtype": str(arr.dtype.name), "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def check_parity(ck: Checkpoint, encoder_path: Path, decoder_path: Path) -> dict[str, object]:
    """Run JAX and onnxruntime on the same inputs; return the parity record (inputs, JAX outputs, errors)."""
    import onnxruntime as ort

    cfg, params = ck.model, jax.tree_util.tree_map(jnp.asarray, ck.params)
    model = Captioner(cfg)
    rng = np.random.default_rng(PARITY_SEED)
    pixels = rng.uniform(-1.0, 1.0, (2, 3, cfg.image_size, cfg.image_size)).astype(np.float32)
    ids = np.concatenate([np.full((2, 1), BOS), rng.integers(4, cfg.vocab_size, (2, min(5, cfg.max_len) - 1))], axis=1).astype(np.int64)

    encode = jax.jit(lambda p, x: model.apply({"params": p}, x, method=Captioner.encode))
    decode = jax.jit(lambda p, i, h: model.apply({"params": p}, i, h, method=Captioner.decode))
    jax_enc = np.asarray(encode(params, pixels))
    jax_logits = np.asarray(decode(params, ids.astype(np.int32), jax_enc))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    enc_sess = ort.InferenceSession(str(encoder_path), options, providers=["CPUExecutionProvider"])
    dec_sess = ort.InferenceSession(str(decoder_path), options, providers=["CPUExecutionProvider"])
    ort_enc = enc_sess.run(["encoder_hidden_states"], {"pixel_values": pixels})[0]
    ort_logits = dec_sess.run(["logits"], plain_feeds(cfg, ids, jax_enc))[0]
    # Also every prefix length up to maxLength: the sliced position table and mask must hold at each.
    full_ids = np.concatenate([ids, rng.integers(4, cfg.vocab_size, (2, cfg.max_len - ids.shape[1]))], axis=1).astype(np.int64)
    jax_full = np.asarray(decode(params, full_ids.astype(np.int32), jax_enc))
    prefix_err = max(
        float(np.abs(dec_sess.run(["logits"], plain_feeds(cfg, full_ids[:, :t], jax_enc))[0] - jax_full[:, :t]).max())
        for t in range(1, cfg.max_len + 1)
    )

    # The KV-cache path against the whole-prefix path: same greedy ids, step logits within tolerance.
    plain_tokens, plain_steps = ort_greedy(cfg, dec_sess, jax_enc, cached=False)
    cached_tokens, cached_steps = ort_greedy(cfg, dec_sess, jax_enc, cached=True)
    cache_err = max(float(np.abs(a - b).max()) for a, b in zip(plain_steps, cached_steps))
    if not np.array_equal(plain_tokens, cached_tokens):
        raise TrainerError(errors.MODEL_INVALID, "ONNX decoder: greedy ids with the KV cache differ from those without",
                           context={"withCache": cached_tokens.tolist(), "withoutCache": plain_tokens.tolist()})

    tokens = np.asarray(jax.jit(lambda p, x: greedy_decode(cfg, p, x, BOS, EOS, PAD))(params, pixels))
    # The smallest top-1 vs top-2 gap along the greedy path: below ~1e-3 another runtime may
    # legitimately pick the other token, so a consumer should compare paths only above that.
    # Causal: the logits at t-1 over the whole greedy buffer are those of the prefix tokens[:t].
    path_logits = np.asarray(decode(params, tokens, jax_enc))
    margins = []
    for row in range(tokens.shape[0]):
        for t in range(1, cfg.max_len):
            top = np.sort(path_logits[row, t - 1])[-2:]
            margins.append(float(top[1] - top[0]))
            if tokens[row, t] == EOS:
                break
    return {
        "tolerance": PARITY_TOLERANCE,
        "encoder": {"inputs": {"pixel_values": _tensor_json(pixels)}, "outputs": {"encoder_hidden_states": _tensor_json(jax_enc)},
                    "maxAbsError": float(np.abs(ort_enc - jax_enc).max())},
        "decoder": {"inputs": {"input_ids": _tensor_json(ids), "encoder_hidden_states": _tensor_json(jax_enc)},
                    "outputs": {"logits": _tensor_json(jax_logits)}, "maxAbsError": float(np.abs(ort_logits - jax_logits).max()),
                    "maxAbsErrorAllPrefixes": prefix_err, "maxAbsErrorCacheVsPrefix": cache_err},
        "greedy": {"from": "encoder.outputs.encoder_hidden_states", "tokens": tokens.astype(int).tolist(), "minMargin": min(margins)},
    }


def export(checkpoint: str | Path, out: str | Path, *, parity: bool = True, emit: Emit = emit_nothing) -> dict[str, object]:
    """Export a checkpoint directory to `out`; returns the `done` event (also emitted)."""
    started = time.time()
    ck = load_checkpoint(checkpoint)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    # model.json marks a complete, parity-checked export: drop a stale one before touching the graphs.
    (out_dir / MODEL_FILE).unlink(missing_ok=True)
    (out_dir / PARITY_FILE).unlink(missing_ok=True)
    meta = {"modelId": str(ck.meta.get("modelId")), "datasetVersion": str(ck.meta.get("datasetVersion")), "format": "captionflow-onnx-encoder-decoder"}
    params = jax.tree_util.tree_map(np.asarray, ck.params)
    encoder = build_encoder(ck.model, params["encoder"], meta)
    decoder = build_decoder(ck.model, params["decoder"], meta)
    onnx.save(encoder, str(out_dir / ENCODER_FILE))
    onnx.save(decoder, str(out_dir / DECODER_FILE))
    shutil.copyfile(ck.path / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    descriptor = model_descriptor(ck)
    done: dict[str, object] = {"event": "done", "out": str(out_dir.resolve()), "modelId": ck.meta.get("modelId"),
                               "files": [ENCODER_FILE, DECODER_FILE, MODEL_FILE, TOKENIZER_FILE]}
    if parity:
        record = check_parity(ck, out_dir / ENCODER_FILE, out_dir / DECODER_FILE)
        errors_seen = {"encoder": record["encoder"]["maxAbsError"], "decoder": record["decoder"]["maxAbsError"],
                       "decoderAllPrefixes": record["decoder"]["maxAbsErrorAllPrefixes"],
                       "decoderCache": record["decoder"]["maxAbsErrorCacheVsPrefix"]}
        if max(errors_seen.values()) > PARITY_TOLERANCE:
            raise TrainerError(errors.MODEL_INVALID, f"ONNX export disagrees with JAX: {errors_seen}", context={"errors": errors_seen})
        (out_dir / PARITY_FILE).write_text(json.dumps(record) + "\n")
        done["parity"] = errors_seen
        done["files"] = [*done["files"], PARITY_FILE]  # type: ignore[misc]
    else:
        descriptor.pop("parity")
    # model.json last: its presence marks a complete export.
    (out_dir / MODEL_FILE).write_text(json.dumps(descriptor, indent=1) + "\n")
    done["seconds"] = round(time.time() - started, 2)
    emit(done)
    return done
