"""The prompt pieces CoOp and CoCoOp share: the context vectors' start, the class prompts' frozen
token embeddings, and the order of context and class tokens.

A class prompt is "<SOS> <context> <class name>. <EOS> <pad>..." in token space. The frozen parts are
kept as two buffers, ``token_prefix`` (the SOS embedding) and ``token_suffix`` (everything after the
context), with the names and shapes of CoOp's checkpoints.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from clip import clip
from clip.model import CLIP
from dassl.utils.errors import ConfigValueError

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")


def initial_context(ctx_init: str, n_ctx: int, clip_model: CLIP,
                    n_cls: Optional[int] = None) -> Tuple[Tensor, str]:
    """The starting context vectors and the text that stands for them in the class prompts.

    With ``ctx_init`` (e.g. "a photo of a") the context is those words' token embeddings and its
    length is the number of words, whatever ``n_ctx`` says. Otherwise it is drawn from N(0, 0.02^2),
    shaped [n_ctx, dim], or [n_cls, n_ctx, dim] for class-specific context, and stands as "X X ... X".
    """
    dtype = clip_model.dtype
    ctx_dim = clip_model.ln_final.weight.shape[0]
    if ctx_init:
        ctx_init = ctx_init.replace("_", " ")
        n_words = len(ctx_init.split(" "))
        tokens = clip.tokenize(ctx_init).to(clip_model.token_embedding.weight.device)
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokens).to(dtype)
        return embedding[0, 1:1 + n_words].clone(), ctx_init
    if n_ctx < 1:
        raise ConfigValueError(f"N_CTX is {n_ctx}; a learned context needs at least one vector (CoOp uses 16).")
    shape = (n_ctx, ctx_dim) if n_cls is None else (n_cls, n_ctx, ctx_dim)
    ctx_vectors = torch.empty(*shape, dtype=dtype)
    nn.init.normal_(ctx_vectors, std=0.02)
    return ctx_vectors, " ".join(["X"] * n_ctx)


def class_prompt_tokens(prompt_prefix: str, classnames: List[str], clip_model: CLIP) -> Tuple[Tensor, Tensor, List[int]]:
    """Token ids and frozen token embeddings of "<prompt_prefix> <class name>." for every class, and
    each class name's length in tokens (underscores in names read as spaces)."""
    names = [name.replace("_", " ") for name in classnames]
    device = clip_model.token_embedding.weight.device
    tokenized = clip.tokenize([f"{prompt_prefix} {name}." for name in names]).to(device)
    name_lens = (clip.tokenize(names).argmax(dim=-1) - 1).tolist()
    with torch.no_grad():
        embedding = clip_model.token_embedding(tokenized).to(clip_model.dtype)
    return tokenized, embedding, name_lens


def token_order(position: str, n_ctx: int, name_lens: List[int], length: int) -> Tensor:
    """Per class, the source index of every token of the reordered prompt [n_cls, length].

    The source is "<SOS> <context> <class> <rest>" (class token at the end). "middle" splits the
    context in halves (the first one n_ctx // 2 long) around the class tokens; "front" puts the class
    tokens right after SOS.
    """
    if position not in CLASS_TOKEN_POSITIONS:
        raise ConfigValueError(
            f"CLASS_TOKEN_POSITION is {position!r}; it must be one of {', '.join(CLASS_TOKEN_POSITIONS)}."
        )
    rows = []
    for name_len in name_lens:
        ctx = list(range(1, 1 + n_ctx))
        name = list(range(1 + n_ctx, 1 + n_ctx + name_len))
        rest = list(range(1 + n_ctx + name_len, length))
        if position == "end":
            order = [0] + ctx + name + rest
        elif position == "middle":
            half = n_ctx // 2
            order = [0] + ctx[:half] + name + ctx[half:] + rest
        else:
            order = [0] + name + ctx + rest
        rows.append(order)
    return torch.tensor(rows, dtype=torch.long)
