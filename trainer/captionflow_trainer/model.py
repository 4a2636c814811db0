"""The captioner: a strided CNN encoder and a pre-LayerNorm transformer decoder (Flax linen).

Every operation here has a one-to-one ONNX counterpart in `export_onnx.py` (convolutions
with explicit padding, dense layers, LayerNorm, exact-erf GELU, softmax attention with an
additive causal mask), which is what makes the exported graphs match JAX to ~1e-6.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import flax.linen as nn

from .config import ModelConfig

LN_EPS = 1e-5
# Additive mask value: large enough to zero a softmax weight, small enough to never overflow.
MASK_VALUE = -1e9
# Pixel normalisation: value / 255, then (v - mean) / std per RGB channel.
PIXEL_MEAN = (0.5, 0.5, 0.5)
PIXEL_STD = (0.5, 0.5, 0.5)


def causal_mask(length: int) -> jnp.ndarray:
    """Additive [length, length] mask: 0 on and below the diagonal, MASK_VALUE above."""
    keep = jnp.tril(jnp.ones((length, length), dtype=bool))
    return jnp.where(keep, 0.0, MASK_VALUE).astype(jnp.float32)


class Encoder(nn.Module):
    """NCHW normalised pixels -> [batch, S, dim] spatial features (S = grid * grid)."""

    config: ModelConfig

    @nn.compact
    def __call__(self, pixel_values: jnp.ndarray) -> jnp.ndarray:
        cfg = self.config
        x = jnp.transpose(pixel_values, (0, 2, 3, 1))  # NCHW -> NHWC, Flax's layout

        def conv(x: jnp.ndarray, channels: int, stride: int, name: str) -> jnp.ndarray:
            return nn.relu(nn.Conv(channels, (3, 3), strides=(stride, stride), padding=((1, 1), (1, 1)), name=name)(x))

        if cfg.stem_channels:
            x = conv(x, cfg.stem_channels, 1, "stem")
        for stage, channels in enumerate(cfg.channels):
            x = conv(x, channels, 2, f"conv{stage}_0")
            for j in range(cfg.convs_per_stage):
                x = conv(x, channels, 1, f"conv{stage}_{j + 1}")
        x = nn.Conv(cfg.dim, (1, 1), name="proj")(x)
        batch, height, width, dim = x.shape
        x = x.reshape(batch, height * width, dim)
        # Captions talk about left/right/top/bottom: the features must know where they are.
        pos = self.param("pos", nn.initializers.normal(0.02), (height * width, dim))
        return nn.LayerNorm(epsilon=LN_EPS, name="ln")(x + pos)


class Attention(nn.Module):
    """Multi-head dot-product attention written out op by op (mirrored in the ONNX export)."""

    dim: int
    heads: int

    @nn.compact
    def __call__(self, x: jnp.ndarray, context: jnp.ndarray, mask: jnp.ndarray | None) -> jnp.ndarray:
        head_dim = self.dim // self.heads
        batch, length, _ = x.shape
        source = context.shape[1]
        q = nn.Dense(self.dim, name="q")(x).reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3)
        k = nn.Dense(self.dim, name="k")(context).reshape(batch, source, self.heads, head_dim).transpose(0, 2, 3, 1)
        v = nn.Dense(self.dim, name="v")(context).reshape(batch, source, self.heads, head_dim).transpose(0, 2, 1, 3)
        scores = jnp.matmul(q, k) * (1.0 / math.sqrt(head_dim))
        if mask is not None:
            scores = scores + mask
        weights = jax.nn.softmax(scores, axis=-1)
        out = jnp.matmul(weights, v).transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
        return nn.Dense(self.dim, name="o")(out)


class DecoderLayer(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x: jnp.ndarray, encoded: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
        cfg = self.config
        h = nn.LayerNorm(epsilon=LN_EPS, name="ln_self")(x)
        x = x + Attention(cfg.dim, cfg.heads, name="self_attn")(h, h, mask)
        h = nn.LayerNorm(epsilon=LN_EPS, name="ln_cross")(x)
        x = x + Attention(cfg.dim, cfg.heads, name="cross_attn")(h, encoded, None)
        h = nn.LayerNorm(epsilon=LN_EPS, name="ln_mlp")(x)
        h = nn.Dense(cfg.dim * cfg.mlp_ratio, name="fc1")(h)
        h = nn.gelu(h, approximate=False)
        return x + nn.Dense(cfg.dim, name="fc2")(h)


class Decoder(nn.Module):
    """([batch, seq] token ids, [batch, S, dim] features) -> [batch, seq, vocab] logits."""

    config: ModelConfig

    @nn.compact
    def __call__(self, input_ids: jnp.ndarray, encoded: jnp.ndarray) -> jnp.ndarray:
        cfg = self.config
        length = input_ids.shape[1]
        tok = self.param("tok_emb", nn.initializers.normal(0.02), (cfg.vocab_size, cfg.dim))
        pos = self.param("pos_emb", nn.initializers.normal(0.02), (cfg.max_len, cfg.dim))
        x = jnp.take(tok, input_ids, axis=0) + pos[:length]
        mask = causal_mask(length)
        for i in range(cfg.layers):
            x = DecoderLayer(cfg, name=f"layer{i}")(x, encoded, mask)
        x = nn.LayerNorm(epsilon=LN_EPS, name="ln_out")(x)
        return nn.Dense(cfg.vocab_size, name="head")(x)


class Captioner(nn.Module):
    """Encoder and decoder under one parameter tree: {'encoder': ..., 'decoder': ...}."""

    config: ModelConfig

    def setup(self) -> None:
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    def __call__(self, pixel_values: jnp.ndarray, input_ids: jnp.ndarray) -> jnp.ndarray:
        return self.decoder(input_ids, self.encoder(pixel_values))

    def encode(self, pixel_values: jnp.ndarray) -> jnp.ndarray:
        return self.encoder(pixel_values)

    def decode(self, input_ids: jnp.ndarray, encoded: jnp.ndarray) -> jnp.ndarray:
        return self.decoder(input_ids, encoded)


def init_params(config: ModelConfig, seed: int) -> dict:
    """Fresh parameters for `config` from `seed` (deterministic)."""
    model = Captioner(config)
    pixels = jnp.zeros((1, 3, config.image_size, config.image_size), jnp.float32)
    ids = jnp.zeros((1, config.max_len), jnp.int32)
    # Jitted: op-by-op eager init compiles every op separately and takes many seconds.
    return jax.jit(model.init)(jax.random.PRNGKey(seed), pixels, ids)["params"]


def count_params(params: dict) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def greedy_decode(config: ModelConfig, params: dict, pixel_values: jnp.ndarray, bos: int, eos: int, pad: int) -> jnp.ndarray:
    """Greedy captions for a batch: [batch, max_len] ids starting with <bos>, padded after <eos>.

    The decoder runs on the whole fixed-length buffer every step; the causal mask makes
    position t depend only on tokens <= t, so this equals re-running on the growing prefix.
    """
    model = Captioner(config)
    encoded = model.apply({"params": params}, pixel_values, method=Captioner.encode)
    batch = pixel_values.shape[0]
    tokens = jnp.full((batch, config.max_len), pad, dtype=jnp.int32).at[:, 0].set(bos)
    done = jnp.zeros((batch,), dtype=bool)

    def step(t: int, state: tuple[jnp.ndarray, jnp.ndarray]) -> tuple[jnp.ndarray, jnp.ndarray]:
        tokens, done = state
        logits = model.apply({"params": params}, tokens, encoded, method=Captioner.decode)
        nxt = jnp.argmax(logits[:, t - 1, :], axis=-1).astype(jnp.int32)
        nxt = jnp.where(done, pad, nxt)
        tokens = tokens.at[:, t].set(nxt)
        return tokens, done | (nxt == eos)

    tokens, _ = jax.lax.fori_loop(1, config.max_len, step, (tokens, done))
    return tokens
