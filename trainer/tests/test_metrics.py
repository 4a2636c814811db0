from __future__ import annotations

import contextlib
import io

from captionflow_trainer.metrics import caption_metrics


def test_a_prediction_equal_to_a_reference_scores_bleu4_one() -> None:
    refs = {"a": ["two red circles and a blue square", "a blue square beside two red circles"]}
    scores = caption_metrics({"a": "Two red circles and a blue square."}, refs)
    assert abs(scores["bleu4"] - 1.0) < 1e-6
    assert scores["exactMatch"] == 1.0


def test_a_wrong_prediction_scores_lower_and_nothing_reaches_stdout() -> None:
    refs = {"a": ["two red circles and a blue square"], "b": ["a green triangle"]}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        good = caption_metrics({"a": "two red circles and a blue square", "b": "a green triangle"}, refs)
        bad = caption_metrics({"a": "three yellow squares", "b": "a green circle"}, refs)
    assert bad["bleu4"] < good["bleu4"] and bad["cider"] < good["cider"]
    assert out.getvalue() == ""
