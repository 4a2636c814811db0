from __future__ import annotations

import base64
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from captionflow_trainer.checkpoint import load_checkpoint
from captionflow_trainer.export_onnx import ort_greedy, past_names, plain_feeds, present_names
from captionflow_trainer.model import Captioner, greedy_decode
from captionflow_trainer.tokenizer import BOS, EOS, PAD

TOL = 1e-4


def _tensor(spec: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["data"]), dtype=np.dtype(spec["dtype"]).newbyteorder("<")).reshape(spec["dims"])


def _io(model: onnx.ModelProto) -> tuple[list[tuple], list[tuple]]:
    def desc(v: onnx.ValueInfoProto) -> tuple:
        t = v.type.tensor_type
        return v.name, t.elem_type, [d.dim_param or d.dim_value for d in t.shape.dim]

    return [desc(v) for v in model.graph.input], [desc(v) for v in model.graph.output]


def test_export_writes_the_encoder_decoder_contract(exported: tuple[Path, list[dict]], trained: tuple[Path, list[dict]]) -> None:
    out, events = exported
    assert events[-1]["event"] == "done"
    ck = load_checkpoint(trained[0])
    cfg = ck.model
    s = cfg.grid * cfg.grid
    enc = onnx.load(out / "encoder.onnx")
    dec = onnx.load(out / "decoder.onnx")
    assert _io(enc) == ([("pixel_values", onnx.TensorProto.FLOAT, ["batch", 3, cfg.image_size, cfg.image_size])],
                        [("encoder_hidden_states", onnx.TensorProto.FLOAT, ["batch", s, cfg.dim])])
    dh = cfg.dim // cfg.heads
    # optimum's decoder_model_merged.onnx layout: use_cache_branch and past_key_values.* in, present.* out.
    assert _io(dec) == ([("input_ids", onnx.TensorProto.INT64, ["batch", "sequence"]),
                         ("encoder_hidden_states", onnx.TensorProto.FLOAT, ["batch", s, cfg.dim]),
                         ("use_cache_branch", onnx.TensorProto.BOOL, [1]),
                         *((n, onnx.TensorProto.FLOAT, ["batch", cfg.heads, "past_sequence" if ".decoder." in n else "encoder_sequence", dh])
                           for n in past_names(cfg.layers))],
                        [("logits", onnx.TensorProto.FLOAT, ["batch", "sequence", cfg.vocab_size]),
                         *((n, onnx.TensorProto.FLOAT, ["batch", cfg.heads, "present_sequence" if ".decoder." in n else "present_encoder_sequence", dh])
                           for n in present_names(cfg.layers))])
    assert past_names(1) == ["past_key_values.0.decoder.key", "past_key_values.0.decoder.value",
                             "past_key_values.0.encoder.key", "past_key_values.0.encoder.value"]
    model = json.loads((out / "model.json").read_text())
    assert model["preprocess"]["layout"] == "NCHW" and model["preprocess"]["mean"] == [0.5, 0.5, 0.5]
    assert model["tokens"] == {"pad": 0, "bos": 1, "eos": 2, "unk": 3}
    assert model["maxLength"] == cfg.max_len and model["vocabSize"] == cfg.vocab_size
    assert model["tokenizer"] == "tokenizer.json" and (out / "tokenizer.json").is_file()
    assert model["modelId"] == ck.meta["modelId"] and model["paramCount"] > 0
    assert model["decoder"]["usesCache"] is True
    assert model["decoder"]["cache"] == {"layout": "hf-merged", "layers": cfg.layers, "heads": cfg.heads, "headDim": dh}
    assert [i["name"] for i in model["decoder"]["inputs"]] == [i[0] for i in _io(dec)[0]]
    # The parameters are stored once although both branches of the If use them.
    names = [i.name for i in dec.graph.initializer]
    assert sum(n.startswith("tok_emb") for n in names) == 1 and sum(n.startswith("head_kernel") for n in names) == 1


def test_onnxruntime_matches_jax_on_random_inputs(exported: tuple[Path, list[dict]], trained: tuple[Path, list[dict]]) -> None:
    out, _ = exported
    ck = load_checkpoint(trained[0])
    cfg, params = ck.model, jax.tree_util.tree_map(jnp.asarray, ck.params)
    model = Captioner(cfg)
    encode = jax.jit(lambda p, x: model.apply({"params": p}, x, method=Captioner.encode))
    decode = jax.jit(lambda p, i, h: model.apply({"params": p}, i, h, method=Captioner.decode))
    enc_sess = ort.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    dec_sess = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    pixels = rng.normal(0, 1, (3, 3, cfg.image_size, cfg.image_size)).astype(np.float32)
    jax_enc = np.asarray(encode(params, pixels))
    ort_enc = enc_sess.run(None, {"pixel_values": pixels})[0]
    assert ort_enc.shape == (3, cfg.grid * cfg.grid, cfg.dim)
    assert np.abs(ort_enc - jax_enc).max() < TOL
    for length in (1, 7, cfg.max_len):
        ids = rng.integers(0, cfg.vocab_size, (3, length)).astype(np.int64)
        jax_logits = np.asarray(decode(params, ids.astype(np.int32), jax_enc))
        ort_logits = dec_sess.run(["logits"], plain_feeds(cfg, ids, jax_enc))[0]
        assert ort_logits.shape == (3, length, cfg.vocab_size)
        assert np.abs(ort_logits - jax_logits).max() < TOL


def test_parity_json_holds_inputs_and_jax_outputs_that_onnxruntime_reproduces(exported: tuple[Path, list[dict]], trained: tuple[Path, list[dict]]) -> None:
    out, events = exported
    parity = json.loads((out / "parity.json").read_text())
    assert max(events[-1]["parity"].values()) < TOL
    enc_sess = ort.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    dec_sess = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    e, d = parity["encoder"], parity["decoder"]
    got = enc_sess.run(None, {"pixel_values": _tensor(e["inputs"]["pixel_values"])})[0]
    assert np.abs(got - _tensor(e["outputs"]["encoder_hidden_states"])).max() < TOL
    ids = _tensor(d["inputs"]["input_ids"])
    assert ids.dtype == np.int64
    ck_cfg = load_checkpoint(trained[0]).model
    got = dec_sess.run(["logits"], plain_feeds(ck_cfg, ids, _tensor(d["inputs"]["encoder_hidden_states"])))[0]
    assert np.abs(got - _tensor(d["outputs"]["logits"])).max() < TOL
    assert d["maxAbsErrorCacheVsPrefix"] < TOL


def test_greedy_decoding_with_onnxruntime_equals_jax(exported: tuple[Path, list[dict]], trained: tuple[Path, list[dict]], dataset: Path) -> None:
    out, _ = exported
    ck = load_checkpoint(trained[0])
    cfg = ck.model
    from captionflow_trainer.data import load_images, load_manifest

    pixels = load_images(load_manifest(dataset).split("test")[:4], cfg.image_size)
    decode = jax.jit(lambda p, x: greedy_decode(cfg, p, x, BOS, EOS, PAD))
    expected = np.asarray(decode(jax.tree_util.tree_map(jnp.asarray, ck.params), pixels))
    enc_sess = ort.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    dec_sess = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    hidden = enc_sess.run(None, {"pixel_values": pixels})[0]
    for row in range(len(pixels)):
        ids = [BOS]
        while len(ids) < cfg.max_len and ids[-1] != EOS:
            logits = dec_sess.run(["logits"], plain_feeds(cfg, np.array([ids], np.int64), hidden[row:row + 1]))[0]
            ids.append(int(logits[0, -1].argmax()))
        got = ids + [PAD] * (cfg.max_len - len(ids))
        assert got == expected[row].tolist()
        assert all(0 <= i < ck.tokenizer.size for i in ids)
    # The whole batch at once with the KV cache (one position per step): the same ids.
    cached, _ = ort_greedy(cfg, dec_sess, hidden, cached=True)
    assert cached.tolist() == expected.tolist()


def test_kv_cache_steps_match_the_whole_prefix(exported: tuple[Path, list[dict]], trained: tuple[Path, list[dict]]) -> None:
    """Cached decoding (one new position per step, pasts of the step before) equals re-running the prefix."""
    out, _ = exported
    cfg = load_checkpoint(trained[0]).model
    dec_sess = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    hidden = rng.normal(0, 1, (3, cfg.grid * cfg.grid, cfg.dim)).astype(np.float32)
    plain, plain_steps = ort_greedy(cfg, dec_sess, hidden, cached=False)
    cached, cached_steps = ort_greedy(cfg, dec_sess, hidden, cached=True)
    assert cached.tolist() == plain.tolist()
    assert len(cached_steps) == len(plain_steps)
    assert max(float(np.abs(a - b).max()) for a, b in zip(plain_steps, cached_steps)) < TOL
    # A cached step feeds only the new token: its logits cover one position, and the presents grow by one.
    ids = rng.integers(4, cfg.vocab_size, (3, 5)).astype(np.int64)
    names = ["logits", *present_names(cfg.layers)]
    first = dec_sess.run(names, plain_feeds(cfg, ids[:, :4], hidden))
    past = dict(zip(past_names(cfg.layers), first[1:]))
    step = dec_sess.run(names, {"input_ids": ids[:, 4:5], "encoder_hidden_states": hidden, "use_cache_branch": np.array([True]), **past})
    whole = dec_sess.run(["logits"], plain_feeds(cfg, ids, hidden))[0]
    assert step[0].shape == (3, 1, cfg.vocab_size)
    assert np.abs(step[0][:, 0] - whole[:, -1]).max() < TOL
    got = dict(zip(present_names(cfg.layers), step[1:]))
    assert got["present.0.decoder.key"].shape == (3, cfg.heads, 5, cfg.dim // cfg.heads)
    # The cross-attention keys/values come out of the first step only; a cached step's are empty.
    assert first[names.index("present.0.encoder.key")].shape == (3, cfg.heads, cfg.grid * cfg.grid, cfg.dim // cfg.heads)
    assert got["present.0.encoder.key"].shape == (3, cfg.heads, 0, cfg.dim // cfg.heads)
    assert got["present.0.encoder.value"].shape == (3, cfg.heads, 0, cfg.dim // cfg.heads)


def test_export_of_a_missing_checkpoint_fails_with_model_load_failed(tmp_path: Path) -> None:
    from .conftest import run_cli

    code, events, _ = run_cli("export", "--checkpoint", str(tmp_path / "nothing"), "--out", str(tmp_path / "o"), check=False)
    assert code == 1 and events == [events[0]] and events[0]["code"] == "MODEL_LOAD_FAILED"
    assert not (tmp_path / "o" / "model.json").exists()


@pytest.mark.parametrize("batch", [1, 5])
def test_batch_is_dynamic(exported: tuple[Path, list[dict]], batch: int) -> None:
    out, _ = exported
    model = json.loads((out / "model.json").read_text())
    size = model["preprocess"]["width"]
    enc_sess = ort.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    hidden = enc_sess.run(None, {"pixel_values": np.zeros((batch, 3, size, size), np.float32)})[0]
    dec_sess = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    from captionflow_trainer.config import ModelConfig

    cfg = ModelConfig.from_json(model["architecture"])
    logits = dec_sess.run(["logits"], plain_feeds(cfg, np.full((batch, 2), BOS, np.int64), hidden))[0]
    assert logits.shape == (batch, 2, model["vocabSize"])


@pytest.mark.parametrize("variant", [{"stem_channels": 8}, {"stem_channels": 8, "convs_per_stage": 1}])
def test_a_stem_convolution_exports_to_a_graph_that_matches_jax(variant: dict) -> None:
    """The encoder's optional stride-1 stem has its ONNX counterpart (random weights, not a trained model)."""
    import dataclasses

    from captionflow_trainer.config import get_preset
    from captionflow_trainer.export_onnx import PARITY_TOLERANCE, build_encoder, model_descriptor
    from captionflow_trainer.model import init_params

    cfg = dataclasses.replace(get_preset("tiny").model, vocab_size=12, max_len=8, **variant)
    rng = np.random.default_rng(7)
    params = jax.tree_util.tree_map(lambda p: np.asarray(p) + rng.normal(0, 0.05, np.shape(p)).astype(np.float32), init_params(cfg, 0))
    assert params["encoder"]["stem"]["kernel"].shape == (3, 3, 3, 8)
    model = build_encoder(cfg, params["encoder"], {})
    pixels = rng.uniform(-1, 1, (3, 3, cfg.image_size, cfg.image_size)).astype(np.float32)
    want = np.asarray(Captioner(cfg).apply({"params": params}, pixels, method=Captioner.encode))
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"pixel_values": pixels})[0]
    assert got.shape == want.shape == (3, cfg.grid * cfg.grid, cfg.dim)
    assert float(np.abs(got - want).max()) < PARITY_TOLERANCE
    assert sum(n.op_type == "Conv" for n in model.graph.node) == 1 + len(cfg.channels) * (1 + cfg.convs_per_stage) + 1
