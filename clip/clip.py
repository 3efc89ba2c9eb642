"""The `clip` API that CoOp-family trainers import: models, weights, tokenizer, preprocessing."""
from typing import List, Union

import torch

from .model import build_model
from .simple_tokenizer import SimpleTokenizer

__all__ = ["build_model", "tokenize"]

_tokenizer = SimpleTokenizer()


def tokenize(texts: Union[str, List[str]], context_length: int = 77, truncate: bool = False) -> torch.LongTensor:
    """Token ids [n, context_length]: start token, text, end token, zero padding.

    A text longer than the context raises, naming the text, unless `truncate` is set, in which case it
    is cut and its last kept token replaced by the end token.
    """
    if isinstance(texts, str):
        texts = [texts]
    result = torch.zeros(len(texts), context_length, dtype=torch.long)
    for row, text in enumerate(texts):
        tokens = [_tokenizer.sot_token] + _tokenizer.encode(text) + [_tokenizer.eot_token]
        if len(tokens) > context_length:
            if not truncate:
                raise RuntimeError(f"Input {text!r} is too long for context length {context_length} "
                                   f"({len(tokens)} tokens with start/end); shorten it or pass truncate=True")
            tokens = tokens[:context_length]
            tokens[-1] = _tokenizer.eot_token
        result[row, : len(tokens)] = torch.tensor(tokens)
    return result
