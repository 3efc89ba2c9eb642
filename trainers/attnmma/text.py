"""The class-prompt text embeddings the attention adapter attends over: one hand-written template per
dataset (the reference), CLIP's template ensemble, or a learned CoOp-style context (our addition)."""
from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clip import clip
from clip.model import CLIP

from ..kit.prompting import class_prompt_tokens, initial_context
from ..kit.templates import dataset_template, ensemble_templates, fill_template

PROMPTS = ("single", "ensemble", "learned")


def prompt_templates(prompt: str, dataset_name: str) -> List[str]:
    """The templates of a fixed prompt setting: the dataset's own one, or the ensemble."""
    if prompt == "single":
        return [dataset_template(dataset_name)]
    return ensemble_templates(dataset_name)


@torch.no_grad()
def fixed_text_features(clip_model: CLIP, classnames: List[str], templates: List[str]) -> Tensor:
    """Unit-norm text embeddings [N, C] (float32): per template L2-normalised, averaged, renormalised."""
    device = clip_model.token_embedding.weight.device
    total = None
    for template in templates:
        tokens = clip.tokenize(fill_template(template, classnames)).to(device)
        features = F.normalize(clip_model.encode_text(tokens).float(), dim=-1)
        total = features if total is None else total + features
    return F.normalize(total / len(templates), dim=-1)


class LearnedContext(nn.Module):
    """A context shared by all classes ("<ctx> <class name>."), learned together with the adapter.

    Started from ``ctx_init``'s words (or N(0, 0.02^2) vectors when empty); kept in float32 and cast to
    the text encoder's precision in the forward, so Adam updates it in full precision.
    """

    def __init__(self, classnames: List[str], clip_model: CLIP, ctx_init: str, n_ctx: int) -> None:
        super().__init__()
        ctx, prefix = initial_context(ctx_init, n_ctx, clip_model)
        self.ctx = nn.Parameter(ctx.float())
        tokenized, embedding, _ = class_prompt_tokens(prefix, classnames, clip_model)
        n = self.ctx.shape[0]
        self.register_buffer("token_prefix", embedding[:, :1, :])
        self.register_buffer("token_suffix", embedding[:, 1 + n:, :])
        self.register_buffer("tokenized_prompts", tokenized, persistent=False)

    def forward(self, clip_model: CLIP) -> Tensor:
        """Text embeddings [N, C] of the class prompts with the current context (float32)."""
        n_cls = self.token_prefix.shape[0]
        ctx = self.ctx.to(self.token_prefix.dtype).unsqueeze(0).expand(n_cls, -1, -1)
        prompts = torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)
        return clip_model.encode_text(self.tokenized_prompts, token_embeddings=prompts).float()
