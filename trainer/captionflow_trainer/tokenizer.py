"""Word-level tokenizer built from the train captions, stored as `tokenizer.json`.

Text is NFC-normalised, lower-cased and split into words with {@link WORD_PATTERN}; punctuation
is dropped. A word is a run of letters and digits of any script, so a Vietnamese word keeps its
diacritics ("hình vuông màu đỏ" is four words, not "h nh vu ng m u"): NFC composes every
Vietnamese letter with its tone mark into one code point, which `[^\W_]` matches (the TS side's
`processors/text/tokenize.ts` splits the same way with `\p{L}\p{M}\p{N}`).
Ids 0..3 are the special tokens; words follow by decreasing frequency (ties alphabetical),
so a vocabulary is a pure function of the captions. Fine-tuning keeps every parent id and
only appends new words, so the parent's embedding rows stay valid.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

WORD_PATTERN = r"[^\W_]+(?:['\u2019][^\W_]+)*"
_WORD_RE = re.compile(WORD_PATTERN)

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def words(text: str) -> list[str]:
    """Split a caption into lower-case words."""
    return _WORD_RE.findall(unicodedata.normalize("NFC", text).lower())


def count_words(captions: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for caption in captions:
        counts.update(words(caption))
    return counts


@dataclass
class Tokenizer:
    """A word vocabulary plus the fixed special ids and the model's maximum sequence length."""

    vocab: list[str]
    max_len: int

    def __post_init__(self) -> None:
        if self.vocab[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"vocab must start with {SPECIALS}")
        self._index = {w: i for i, w in enumerate(self.vocab)}
        if len(self._index) != len(self.vocab):
            raise ValueError("vocab has duplicate entries")

    @property
    def size(self) -> int:
        return len(self.vocab)

    @staticmethod
    def build(captions: Iterable[str], max_len: int, min_count: int = 1) -> "Tokenizer":
        """Build a vocabulary from captions; `max_len` counts <bos> and <eos>."""
        counts = count_words(captions)
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return Tokenizer(vocab=SPECIALS + kept, max_len=max_len)

    def extend(self, captions: Iterable[str], min_count: int = 1) -> tuple["Tokenizer", list[str]]:
        """Return a tokenizer with every parent id unchanged plus new words appended, and the new words."""
        counts = count_words(captions)
        new = sorted((w for w, c in counts.items() if c >= min_count and w not in self._index), key=lambda w: (-counts[w], w))
        return Tokenizer(vocab=self.vocab + new, max_len=self.max_len), new

    def encode(self, text: str) -> list[int]:
        """<bos> words <eos>, truncated to max_len (the <eos> is kept), without padding."""
        ids = [self._index.get(w, UNK) for w in words(text)][: self.max_len - 2]
        return [BOS, *ids, EOS]

    def encode_padded(self, text: str) -> list[int]:
        ids = self.encode(text)
        return ids + [PAD] * (self.max_len - len(ids))

    def decode(self, ids: Iterable[int]) -> str:
        """Words up to the first <eos>, skipping <bos>/<pad>; ids out of range read as <unk>."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            out.append(self.vocab[i] if 0 <= i < len(self.vocab) else SPECIALS[UNK])
        return " ".join(out)

    def to_json(self) -> dict[str, object]:
        return {
            "type": "word",
            "vocab": self.vocab,
            "pad": PAD,
            "bos": BOS,
            "eos": EOS,
            "unk": UNK,
            "maxLen": self.max_len,
            "lowercase": True,
            "pattern": WORD_PATTERN,
            "joiner": " ",
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @staticmethod
    def load(path: Path) -> "Tokenizer":
        data = json.loads(path.read_text())
        ids = (data.get("pad"), data.get("bos"), data.get("eos"), data.get("unk"))
        if ids != (PAD, BOS, EOS, UNK):
            raise ValueError(f"unsupported special token ids {ids} in {path}")
        return Tokenizer(vocab=list(data["vocab"]), max_len=int(data["maxLen"]))
