from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from captionflow_trainer.tokenizer import BOS, EOS, PAD, SPECIALS, UNK, Tokenizer, words


def test_words_are_lowercased_and_punctuation_is_dropped() -> None:
    assert words("Two RED circles, and a blue-square!") == ["two", "red", "circles", "and", "a", "blue", "square"]


def test_vietnamese_words_keep_their_diacritics() -> None:
    # NFD input (letters + combining marks) reads the same as NFC.
    nfd = unicodedata.normalize("NFD", "Hai hình vuông màu đỏ, bên trái!")
    assert words(nfd) == ["hai", "hình", "vuông", "màu", "đỏ", "bên", "trái"]
    tok = Tokenizer.build(["hình tròn màu đỏ", "hình vuông"], max_len=8)
    assert tok.decode(tok.encode("Hình tròn")) == "hình tròn"


def test_apostrophes_stay_inside_words() -> None:
    assert words("the dog's ball, the cat\u2019s toy") == ["the", "dog's", "ball", "the", "cat\u2019s", "toy"]


def test_vocabulary_is_specials_then_words_by_frequency_then_alphabet() -> None:
    tok = Tokenizer.build(["b a", "a c", "a b"], max_len=8)
    assert tok.vocab == SPECIALS + ["a", "b", "c"]


def test_min_count_maps_rare_words_to_unk() -> None:
    tok = Tokenizer.build(["red circle", "red square"], max_len=8, min_count=2)
    assert tok.vocab == SPECIALS + ["red"]
    assert tok.encode("red circle") == [BOS, tok.vocab.index("red"), UNK, EOS]


def test_encode_truncates_but_keeps_eos_and_pads_to_max_len() -> None:
    tok = Tokenizer.build(["a b c d e f"], max_len=5)
    assert tok.encode("a b c d e f") == [BOS, 4, 5, 6, EOS]
    assert tok.encode_padded("a") == [BOS, 4, EOS, PAD, PAD]


def test_decode_stops_at_eos_and_skips_specials() -> None:
    tok = Tokenizer.build(["red circle"], max_len=8)
    ids = tok.encode("red circle")
    assert tok.decode(ids + [4, 4]) == "red circle"
    assert tok.decode([BOS, 999, EOS]) == "<unk>"


def test_extend_keeps_every_parent_id_and_appends_new_words() -> None:
    parent = Tokenizer.build(["red circle", "blue square"], max_len=8)
    child, new = parent.extend(["orange circle", "orange triangle", "red square"])
    assert child.vocab[: parent.size] == parent.vocab
    assert new == ["orange", "triangle"]
    assert child.vocab[parent.size:] == new
    assert child.max_len == parent.max_len


def test_round_trips_through_tokenizer_json(tmp_path: Path) -> None:
    tok = Tokenizer.build(["two red circles and a blue square"], max_len=12)
    tok.save(tmp_path / "tokenizer.json")
    again = Tokenizer.load(tmp_path / "tokenizer.json")
    assert again.vocab == tok.vocab and again.max_len == 12
    data = tok.to_json()
    assert (data["pad"], data["bos"], data["eos"], data["unk"], data["lowercase"]) == (0, 1, 2, 3, True)


def test_rejects_a_vocab_without_the_special_tokens() -> None:
    with pytest.raises(ValueError):
        Tokenizer(vocab=["a", "b"], max_len=4)
