from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from captionflow_trainer.checkpoint import load_checkpoint
from captionflow_trainer.synthetic import make_dataset
from captionflow_trainer.tokenizer import Tokenizer

from .conftest import run_cli


def test_train_streams_progress_and_done_as_json_lines(trained: tuple[Path, list[dict]]) -> None:
    _, events = trained
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    progress = [e for e in events if e["event"] == "progress"]
    assert progress, "no progress events"
    steps = events[0]["steps"]
    assert all(set(e) >= {"epoch", "step", "steps", "loss"} and e["steps"] == steps for e in progress)
    assert [e["step"] for e in progress] == sorted(e["step"] for e in progress)
    assert progress[-1]["step"] == steps
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    done = events[-1]
    assert {"bleu4", "cider"} <= set(done["metrics"]) and done["modelId"]


def test_every_epoch_reports_the_learning_curve_point(trained: tuple[Path, list[dict]]) -> None:
    _, events = trained
    epochs = [e for e in events if e["event"] == "epoch"]
    assert epochs
    for e in epochs:
        assert set(e) >= {"trainLoss", "valLoss", "valBleu4", "valCiderD", "valItems"}
        assert 0 <= e["valBleu4"] <= 1 and e["valCiderD"] >= 0 and e["valItems"] > 0


def test_a_checkpoint_holds_params_config_tokenizer_and_metrics(trained: tuple[Path, list[dict]]) -> None:
    out, events = trained
    assert {p.name for p in out.iterdir()} >= {"params.msgpack", "config.json", "tokenizer.json", "metrics.json"}
    ck = load_checkpoint(out)
    assert ck.meta["modelId"] == events[-1]["modelId"]
    assert ck.meta["seed"] == 5 and ck.meta["preset"] == "tiny"
    assert ck.tokenizer.size == ck.model.vocab_size
    assert np.asarray(ck.params["decoder"]["tok_emb"]).shape == (ck.model.vocab_size, ck.model.dim)
    tok = json.loads((out / "tokenizer.json").read_text())
    assert tok["vocab"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]


def test_the_same_seed_gives_the_same_model(tmp_path: Path, dataset: Path, trained: tuple[Path, list[dict]]) -> None:
    out, events = trained
    _, again, _ = run_cli("train", "--manifest", str(dataset), "--out", str(tmp_path / "again"), "--config", "tiny", "--epochs", "2", "--seed", "5")
    assert again[-1]["modelId"] == events[-1]["modelId"]
    assert (tmp_path / "again" / "params.msgpack").read_bytes() == (out / "params.msgpack").read_bytes()


def test_one_device_and_two_train_the_same_model_up_to_summation_order(tmp_path: Path, dataset: Path, trained: tuple[Path, list[dict]]) -> None:
    """The CLI splits each batch over two host devices; with one (CAPTIONFLOW_TRAIN_DEVICES=1) the losses and weights agree to rounding."""
    from .conftest import run_cli

    out, events = trained
    _, one, _ = run_cli("train", "--manifest", str(dataset), "--out", str(tmp_path / "one"), "--config", "tiny", "--epochs", "2", "--seed", "5",
                        env={"CAPTIONFLOW_TRAIN_DEVICES": "1"})
    losses = lambda evs: [e["loss"] for e in evs if e["event"] == "progress"]  # noqa: E731
    assert losses(one) and np.allclose(losses(one), losses(events), atol=1e-3)
    a, b = load_checkpoint(tmp_path / "one").params, load_checkpoint(out).params
    assert np.allclose(np.asarray(a["decoder"]["head"]["kernel"]), np.asarray(b["decoder"]["head"]["kernel"]), atol=1e-3)


def test_fine_tuning_keeps_the_parent_vocab_and_appends_new_words(tmp_path: Path, dataset: Path, trained: tuple[Path, list[dict]]) -> None:
    parent_dir, _ = trained
    parent = load_checkpoint(parent_dir)
    # A new dataset version with a colour the parent never saw, replaying the parent's data.
    new = make_dataset(tmp_path / "v2", 40, seed=11, palette=("orange", "red"), dataset_version="v2")
    _, events, _ = run_cli(
        "train", "--manifest", str(new), "--out", str(tmp_path / "child"), "--init-from", str(parent_dir), "--config", "tiny",
        "--epochs", "1", "--replay-manifest", str(dataset), "--replay-limit", "30",
    )
    start = events[0]
    assert "orange" in start["newWords"]
    assert start["replayItems"] == 30
    child = load_checkpoint(tmp_path / "child")
    assert child.tokenizer.vocab[: parent.tokenizer.size] == parent.tokenizer.vocab
    assert child.model.vocab_size == parent.tokenizer.size + len(start["newWords"])
    assert child.model.max_len == parent.model.max_len and child.model.dim == parent.model.dim
    assert child.meta["initFrom"]["modelId"] == parent.meta["modelId"]
    assert child.meta["replayDatasetVersions"] == [parent.meta["datasetVersion"]]


def test_an_invalid_manifest_exits_2_with_one_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"datasetVersion": "v", "items": [{"id": "a", "split": "nope", "image": "/a.png", "captions": ["x"]}]}))
    code, events, _ = run_cli("train", "--manifest", str(bad), "--out", str(tmp_path / "o"), "--config", "tiny", check=False)
    assert code == 2
    assert events == [events[0]] and events[0]["event"] == "error" and events[0]["code"] == "CONFIG_INVALID"


def test_a_missing_parent_checkpoint_is_model_load_failed(tmp_path: Path, dataset: Path) -> None:
    code, events, _ = run_cli("train", "--manifest", str(dataset), "--out", str(tmp_path / "o"), "--init-from", str(tmp_path / "none"),
                              "--config", "tiny", check=False)
    assert code == 1 and events[-1]["code"] == "MODEL_LOAD_FAILED"


def test_tokenizer_is_built_from_train_captions_only(trained: tuple[Path, list[dict]], dataset: Path) -> None:
    out, _ = trained
    manifest = json.loads(dataset.read_text())
    train_caps = [c for it in manifest["items"] if it["split"] == "train" for c in it["captions"]]
    expected = Tokenizer.build(train_caps, max_len=load_checkpoint(out).model.max_len)
    assert load_checkpoint(out).tokenizer.vocab == expected.vocab


def test_references_drawn_per_image_are_distinct_when_there_are_enough() -> None:
    from captionflow_trainer.train import _draw_references

    rng = np.random.default_rng(0)
    counts = np.array([5, 3, 2, 1], np.int32)
    for _ in range(50):
        picks = _draw_references(rng, counts, 3)
        assert picks.shape == (4, 3)
        assert len(set(picks[0])) == 3 and set(picks[1]) == {0, 1, 2}
        assert set(picks[2][:2]) == {0, 1} and 0 <= picks[2][2] < 2
        assert set(picks[3]) == {0}
        assert all(0 <= p < c for row, c in zip(picks, counts) for p in row)


def test_the_validation_loss_encodes_each_image_once_and_equals_the_per_pair_token_mean() -> None:
    import dataclasses

    import jax

    from captionflow_trainer.config import get_preset
    from captionflow_trainer.model import Captioner, init_params
    from captionflow_trainer.train import VAL_IMAGES, _loss_fn, _mean_loss

    mcfg = dataclasses.replace(get_preset("tiny").model, vocab_size=12, max_len=8)
    params = init_params(mcfg, 0)
    rng = np.random.default_rng(1)
    n = VAL_IMAGES + 3  # a full batch and a padded one
    images = rng.uniform(-1, 1, (n, 3, mcfg.image_size, mcfg.image_size)).astype(np.float32)
    counts = rng.integers(1, 4, n).astype(np.int32)
    table = np.zeros((n, 3, mcfg.max_len), np.int32)
    for i in range(n):
        for j in range(counts[i]):
            length = int(rng.integers(1, mcfg.max_len - 1))
            table[i, j, : length + 2] = [1, *rng.integers(4, 12, length), 2]
    eval_loss = jax.jit(_loss_fn(Captioner(mcfg), 0.0))
    total = tokens = 0.0
    for i in range(n):
        for j in range(counts[i]):
            t = float((table[i, j, 1:] != 0).sum())
            total += float(eval_loss(params, images[i : i + 1], table[i, j][None], np.ones((1,), np.float32))) * t
            tokens += t
    assert abs(_mean_loss(eval_loss, params, images, table, counts) - total / tokens) < 1e-4


def test_several_references_per_image_train_and_are_recorded(tmp_path: Path, dataset: Path) -> None:
    _, events, _ = run_cli("train", "--manifest", str(dataset), "--out", str(tmp_path / "k3"), "--config", "tiny", "--epochs", "1",
                           "--captions-per-image", "3", "--label-smoothing", "0.1")
    assert events[-1]["event"] == "done" and np.isfinite(events[-1]["metrics"]["bleu4"])
    train = load_checkpoint(tmp_path / "k3").meta["train"]
    assert train["captions_per_image"] == 3 and train["label_smoothing"] == 0.1


def test_a_bad_captions_per_image_exits_2(tmp_path: Path, dataset: Path) -> None:
    code, events, _ = run_cli("train", "--manifest", str(dataset), "--out", str(tmp_path / "o"), "--config", "tiny",
                              "--captions-per-image", "0", check=False)
    assert code == 2 and events[-1]["code"] == "CONFIG_INVALID"


def test_shifted_images_are_translated_copies_with_edge_padding() -> None:
    from captionflow_trainer.train import _shift_images

    images = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6)
    shifted = _shift_images(np.random.default_rng(0), images, 2)
    assert shifted.shape == images.shape
    assert np.array_equal(_shift_images(np.random.default_rng(0), images, 0), images)
    for i in range(2):
        # Some offset (dy, dx) in [-2, 2]^2 maps the edge-padded original onto the shifted image.
        padded = np.pad(images[i], ((0, 0), (2, 2), (2, 2)), mode="edge")
        assert any(np.array_equal(padded[:, dy:dy + 6, dx:dx + 6], shifted[i]) for dy in range(5) for dx in range(5))


def test_weight_averaging_and_shifts_train_and_are_recorded(tmp_path: Path, dataset: Path) -> None:
    _, events, _ = run_cli("train", "--manifest", str(dataset), "--out", str(tmp_path / "ema"), "--config", "tiny", "--epochs", "1",
                           "--ema-decay", "0.9", "--shift-pixels", "2", "--weight-decay", "0.05")
    assert events[-1]["event"] == "done" and np.isfinite(events[-1]["metrics"]["bleu4"])
    train = load_checkpoint(tmp_path / "ema").meta["train"]
    assert train["ema_decay"] == 0.9 and train["shift_pixels"] == 2 and train["weight_decay"] == 0.05


@pytest.mark.parametrize("flag,value", [("--ema-decay", "1"), ("--ema-decay", "-0.1"), ("--shift-pixels", "-1"), ("--weight-decay", "-0.1")])
def test_a_bad_ema_decay_shift_or_weight_decay_exits_2(tmp_path: Path, dataset: Path, flag: str, value: str) -> None:
    code, events, _ = run_cli("train", "--manifest", str(dataset), "--out", str(tmp_path / "o"), "--config", "tiny", flag, value, check=False)
    assert code == 2 and events[-1]["code"] == "CONFIG_INVALID"
