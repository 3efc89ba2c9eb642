"""What the deep-prompt methods (MaPLe, PromptSRC) share: the learned text context with its frozen
class-token buffers, depth checks, the container that registers and saves only the learned parts,
and loading checkpoints written by us or by the reference code (which hold the whole model).

The prompt tokens enter CLIP through its deep-prompt seam (docs/CLIP.md), so no method forks the model.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from clip import clip
from clip.model import CLIP
from dassl.utils.errors import FrameworkError

from .checkpoints import learner_checkpoints, load_learned_state
from .prompting import class_prompt_tokens

# The references initialise the context from CTX_INIT only for this many context tokens or fewer.
MAX_INIT_CONTEXT = 4


class PromptConfigError(FrameworkError, ValueError):
    """A prompt depth or length that the backbone cannot take."""


def check_prompt_depth(depth: int, layers: int, key: str, minimum: int = 1) -> None:
    """A prompt depth counts prompted blocks from the first; it must fit the tower's ``layers``."""
    if not minimum <= depth <= layers:
        raise PromptConfigError(
            f"{key} is {depth}; this backbone's tower has {layers} blocks, so it must be between {minimum} "
            f"and {layers} (the released ViT-B/16 configs use 9 of 12, or 3 for cross-dataset)."
        )


def initial_deep_context(ctx_init: str, n_ctx: int, clip_model: CLIP, key: str) -> Tuple[Tensor, str]:
    """The starting context [n_ctx, width] and the words that stand for it in the class prompts.

    As the references do: with a CTX_INIT and at most four context tokens, the context is the
    embedding of CTX_INIT's first ``n_ctx`` tokens and the prompt keeps all of CTX_INIT's words
    (so with "a photo of a" and two tokens, "of a" stay fixed words); otherwise it is drawn from
    N(0, 0.02^2) and stands as "X X ... X".
    """
    if n_ctx < 1:
        raise PromptConfigError(f"{key} is {n_ctx}; the learned context needs at least one token.")
    dtype = clip_model.dtype
    if ctx_init and n_ctx <= MAX_INIT_CONTEXT:
        words = ctx_init.replace("_", " ")
        tokens = clip.tokenize(words).to(clip_model.token_embedding.weight.device)
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokens).to(dtype)
        return embedding[0, 1:1 + n_ctx].clone(), words
    ctx = torch.empty(n_ctx, clip_model.ln_final.weight.shape[0], dtype=dtype)
    nn.init.normal_(ctx, std=0.02)
    return ctx, " ".join(["X"] * n_ctx)


def normal_prompts(count: int, n_tokens: int, width: int) -> List[nn.Parameter]:
    """``count`` fp32 prompt tensors [n_tokens, width] drawn from N(0, 0.02^2), one after the other."""
    prompts = []
    for _ in range(count):
        prompt = nn.Parameter(torch.empty(n_tokens, width))
        nn.init.normal_(prompt, std=0.02)
        prompts.append(prompt)
    return prompts


class ContextPrompts(nn.Module):
    """The learned context ``ctx`` and the frozen ``token_prefix`` (SOS) / ``token_suffix`` (class
    words, period, EOS, padding) buffers; ``class_prompts()`` returns the token embeddings of every
    class prompt [n_cls, context_length, width]."""

    def __init__(self, ctx: Tensor, prompt_prefix: str, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__()
        self.ctx = nn.Parameter(ctx)
        self.n_ctx = ctx.shape[0]
        self.n_cls = len(classnames)
        tokenized, embedding, _ = class_prompt_tokens(prompt_prefix, classnames, clip_model)
        self.register_buffer("token_prefix", embedding[:, :1, :])
        self.register_buffer("token_suffix", embedding[:, 1 + self.n_ctx:, :])
        self.register_buffer("tokenized_prompts", tokenized, persistent=False)
        print(f'Initial context: "{prompt_prefix}"')
        print(f"Number of context words (tokens): {self.n_ctx}")

    def class_prompts(self) -> Tensor:
        ctx = self.ctx.unsqueeze(0).expand(self.n_cls, -1, -1).to(self.token_prefix.dtype)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)


class LearnedParts(nn.Module):
    """The learned children of a method's model, registered with the engine on their own: a checkpoint
    then holds their tensors under the model's own key names, and not the frozen CLIP."""

    def __init__(self, parts: Dict[str, nn.Module]) -> None:
        super().__init__()
        for name, part in parts.items():
            self.add_module(name, part)


def load_learned_parts(trainer, directory: str, epoch: Optional[int], is_learned: Callable[[str], bool],
                       derived: Tuple[str, ...], settings: str) -> None:
    """Load every registered model from ``<directory>/<name>/model.pth.tar-<epoch>``.

    The reference code saves its whole model there (frozen CLIP, PromptSRC's copy of the image tower);
    only the keys ``is_learned`` accepts are kept, so its checkpoints load as ours do. Buffers derived
    from the class names (``derived``) come from this run's classes. Learned tensors must all fit.
    """
    for module, state_dict, path in learner_checkpoints(trainer, directory, epoch):
        learned = {k: v for k, v in state_dict.items() if is_learned(k)}
        load_learned_state(module, learned, derived, source=path, settings=settings)
