"""A frozen CLIP carrying a learner's side branches in both towers, scored against fixed class prompts,
with every speed switch of such a method in one opt-in place (docs/SPEED.md).

The method gives the learner (its only trained part) and CLIP; ``BranchedCLIP`` runs the two passes
through CLIP's side-branch seam and the cosine head. The switches are keys of the method's config
node, declared by :func:`add_speed_keys`:

- ``TEXT_TRUNCATE`` (exact): encode the prompts only up to the longest end-of-text token;
- ``TEXT_PREFIX_CACHE`` (exact): run the text blocks below the first branch once;
- ``EVAL_PREC``: evaluate under bf16 / fp16 autocast (``fp32``, the default, evaluates as is);
- ``COMPILE`` / ``COMPILE_BACKEND``: torch.compile the image pass and the branched text pass;
- always on (exact): eval-mode text features computed once until the learner changes.
"""
from __future__ import annotations

from typing import ContextManager, Optional

import torch
from torch import Tensor, nn

from clip.model import CLIP
from dassl.config import CfgNode

from .backbone import freeze_except
from .compiling import check_compile
from .precision import check_eval_precision, inference_autocast
from .text_cache import TextFeatureCache
from .text_prefix import FrozenTextPrefix

SPEED_DEFAULTS = {
    "TEXT_TRUNCATE": True,
    "TEXT_PREFIX_CACHE": True,
    "EVAL_PREC": "fp32",
    "COMPILE": "",
    "COMPILE_BACKEND": "inductor",
}


def add_speed_keys(node: CfgNode) -> None:
    """Declare the speed switches, with their defaults, on a method's config node."""
    for key, value in SPEED_DEFAULTS.items():
        setattr(node, key, value)


def check_speed_keys(node: CfgNode, node_name: str, device: Optional[torch.device] = None) -> None:
    """Reject a bad EVAL_PREC; with ``device`` (known once the trainer is built), a bad COMPILE setting."""
    check_eval_precision(node.EVAL_PREC, f"{node_name}.EVAL_PREC")
    if device is not None and node.COMPILE:
        check_compile(node.COMPILE, node.COMPILE_BACKEND, device, node_name)


class BranchedCLIP(nn.Module):
    """Frozen CLIP plus ``learner`` (registered as ``learner_name``, the only trainable part): cosine
    logits of images against the class prompts, both towers carrying the learner's branches.

    ``learner`` holds the prompts as buffers ``tokenized_prompts`` and ``token_embedding``, their used
    length ``prompt_length`` (``text_prefix.used_context_length`` of the token ids, taken where they
    have values: the model may be built on the meta device), and gives its branches through
    ``text_branches()`` / ``visual_branches()`` ({block index: branch}). In eval
    mode the text features are computed once and reused until a learner tensor changes.
    """

    def __init__(self, clip_model: CLIP, learner_name: str, learner: nn.Module, speed: CfgNode) -> None:
        super().__init__()
        setattr(self, learner_name, learner)
        self.learner_name = learner_name
        self.clip_model = clip_model
        self.dtype = clip_model.dtype
        freeze_except(self, learner_name)
        self.text_length = learner.prompt_length if speed.TEXT_TRUNCATE else learner.tokenized_prompts.shape[1]
        first_branch = min(learner.text_branches(), default=0)
        self.text_prefix = FrozenTextPrefix(first_branch) if speed.TEXT_PREFIX_CACHE and first_branch >= 1 else None
        self.eval_precision = speed.EVAL_PREC
        self._text_cache = TextFeatureCache()
        self._image_pass = self.encode_images
        self._text_pass = self._encode_tokens

    @property
    def learner(self) -> nn.Module:
        return getattr(self, self.learner_name)

    def compile_encoders(self, mode: str, backend: str = "inductor") -> None:
        """torch.compile the image pass and the branched text pass; caches and head stay in Python."""
        options = dict(mode=None if mode == "default" else mode, backend=backend)
        self._image_pass = torch.compile(self.encode_images, **options)
        self._text_pass = torch.compile(self._encode_tokens, **options)

    def inference_autocast(self, device: torch.device) -> ContextManager:
        """The EVAL_PREC autocast context for evaluation (nothing for fp32)."""
        return inference_autocast(self.eval_precision, device)

    def encode_images(self, image: Tensor) -> Tensor:
        """Branched (unnormalised) image features [n, embed_dim]."""
        return self.clip_model.encode_image(image.to(self.dtype), branches=self.learner.visual_branches())

    def encode_prompts(self) -> Tensor:
        """Branched (unnormalised) text features of all class prompts [n_cls, embed_dim], on the first
        ``text_length`` positions, from the frozen prefix when it is cached."""
        tokens = self.learner.tokenized_prompts[:, : self.text_length]
        embeddings = self.learner.token_embedding[:, : self.text_length]
        hidden = None if self.text_prefix is None else self.text_prefix(self.clip_model, tokens, embeddings)
        return self._text_pass(tokens, embeddings, hidden)

    def _encode_tokens(self, tokens: Tensor, embeddings: Tensor, hidden: Optional[Tensor]) -> Tensor:
        branches = self.learner.text_branches()
        if hidden is None:
            return self.clip_model.encode_text(tokens, branches=branches, token_embeddings=embeddings)
        x = self.clip_model.transformer(hidden, branches, first=self.text_prefix.first_block)
        return self.clip_model.text_features_from(x, tokens)

    def text_features(self) -> Tensor:
        return self._text_cache.get(self.learner, self.encode_prompts)

    def forward(self, image: Tensor) -> Tensor:
        image_features = self._image_pass(image)
        text_features = self.text_features()
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        return self.clip_model.logit_scale.exp() * image_features @ text_features.t()
