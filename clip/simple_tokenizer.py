"""CLIP's byte-level BPE tokenizer, reading the vocabulary file that open_clip_torch ships.

The vocabulary file is the same one OpenAI released (`bpe_simple_vocab_16e6.txt.gz`), so the token ids
equal those of OpenAI's tokenizer.
"""
import gzip
import html
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import ftfy
import regex

from dassl.utils.errors import MissingDependencyError

SOT_TOKEN = "<|startoftext|>"
EOT_TOKEN = "<|endoftext|>"
_MERGE_COUNT = 49152 - 256 - 2
_WORD_END = "</w>"
_TOKEN_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


def default_bpe() -> str:
    """Path of the BPE merges file inside the installed open_clip_torch package.

    Found without importing open_clip, whose import (timm and friends) would add a few tenths of a
    second to every run's start-up.
    """
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("CLIP's tokenizer reads its vocabulary from the open_clip_torch package, which "
                                     "is not installed; run `pip install -r requirements.txt`")
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        raise MissingDependencyError(f"open_clip_torch is installed but its vocabulary file {path} is missing; "
                                     "reinstall it with `pip install --force-reinstall open_clip_torch`")
    return str(path)


@lru_cache()
def bytes_to_unicode() -> Dict[int, str]:
    """A reversible map from every byte to a printable unicode character (so BPE never sees spaces)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    mapping = {byte: chr(byte) for byte in printable}
    shift = 0
    for byte in range(256):
        if byte not in mapping:
            mapping[byte] = chr(256 + shift)
            shift += 1
    return mapping


def _pairs(word: Tuple[str, ...]) -> set:
    return set(zip(word[:-1], word[1:]))


def basic_clean(text: str) -> str:
    text = ftfy.fix_text(text)
    return html.unescape(html.unescape(text)).strip()


def whitespace_clean(text: str) -> str:
    return regex.sub(r"\s+", " ", text).strip()


class SimpleTokenizer:
    """Text <-> CLIP token ids (without the start/end tokens, which `clip.tokenize` adds)."""

    def __init__(self, bpe_path: Optional[str] = None):
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {char: byte for byte, char in self.byte_encoder.items()}
        with gzip.open(Path(bpe_path or default_bpe()), "rt", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        merges = [tuple(line.split()) for line in lines[1:_MERGE_COUNT + 1]]
        symbols = list(self.byte_encoder.values())
        vocab = symbols + [symbol + _WORD_END for symbol in symbols]
        vocab += ["".join(merge) for merge in merges] + [SOT_TOKEN, EOT_TOKEN]
        self.encoder = {token: index for index, token in enumerate(vocab)}
        self.decoder = {index: token for token, index in self.encoder.items()}
        self.bpe_ranks = {merge: rank for rank, merge in enumerate(merges)}
        self.cache = {SOT_TOKEN: SOT_TOKEN, EOT_TOKEN: EOT_TOKEN}
        self.sot_token = self.encoder[SOT_TOKEN]
        self.eot_token = self.encoder[EOT_TOKEN]

    def bpe(self, token: str) -> str:
        """Merge the characters of one pre-token greedily by merge rank; returns space-joined pieces."""
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + _WORD_END,)
        while len(word) > 1:
            best = min(_pairs(word), key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if best not in self.bpe_ranks:
                break
            merged: List[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        pieces = " ".join(word)
        self.cache[token] = pieces
        return pieces

    def encode(self, text: str) -> List[int]:
        text = whitespace_clean(basic_clean(text)).lower()
        ids: List[int] = []
        for token in _TOKEN_PATTERN.findall(text):
            mapped = "".join(self.byte_encoder[byte] for byte in token.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self.bpe(mapped).split(" "))
        return ids

    def decode(self, tokens: List[int]) -> str:
        text = "".join(self.decoder[int(token)] for token in tokens)
        raw = bytearray(self.byte_decoder[char] for char in text)
        return raw.decode("utf-8", errors="replace").replace(_WORD_END, " ")
