"""MaPLe (Khattak et al., CVPR 2023): multi-modal prompts coupled from the text side.

Learned text tokens replace the context positions of the class prompts in the first PROMPT_DEPTH
blocks of the text tower; the image tower gets as many tokens, appended after its patches, each
block's set a linear projection of that block's text prompt (``proj`` for the first, its own Linear
for every deeper one). CLIP stays frozen; the loss is cross-entropy. Names follow the reference's
``trainers/maple.py`` so that its checkpoints load; the widths come from the backbone (any ViT).
"""
from __future__ import annotations

import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TRAINER_REGISTRY

from .kit.backbone import check_precision, freeze_except, require_vit
from .kit.deep_prompts import (ContextPrompts, LearnedParts, check_prompt_depth, initial_deep_context,
                               load_learned_parts, normal_prompts)
from .kit.text_cache import TextFeatureCache
from .kit.training import LearnerTrainer

CONFIG_NODE = "TRAINER.MAPLE"
LEARNER_NAME = "prompt_learner"
# The reference registers its whole model under this name; ours registers the prompt learner there,
# so checkpoints of both load from the same folder.
CHECKPOINT_NAME = "MultiModalPromptLearner"
DERIVED_BUFFERS = (f"{LEARNER_NAME}.token_prefix", f"{LEARNER_NAME}.token_suffix")


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.MAPLE`` with the reference's train.py defaults."""
    node = CfgNode()
    node.N_CTX = 2
    node.CTX_INIT = "a photo of a"
    node.PREC = "fp16"
    node.PROMPT_DEPTH = 9
    cfg.TRAINER.MAPLE = node


def maple_settings(cfg: CfgNode) -> str:
    mcfg = cfg.TRAINER.MAPLE
    return (f"{CONFIG_NODE} N_CTX {mcfg.N_CTX}, PROMPT_DEPTH {mcfg.PROMPT_DEPTH}, "
            f"backbone {cfg.MODEL.BACKBONE.NAME!r}")


class MultiModalPromptLearner(ContextPrompts):
    """``ctx`` (first-level text prompts), ``proj`` (their image projection), and per deeper block a
    text prompt (``compound_prompts_text.<i>``) and its own projection (``compound_prompt_projections.<i>``)."""

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        mcfg = cfg.TRAINER.MAPLE
        visual = require_vit(cfg, clip_model, "MaPLe")
        depth = mcfg.PROMPT_DEPTH
        check_prompt_depth(depth, min(clip_model.transformer.layers, visual.transformer.layers),
                           f"{CONFIG_NODE}.PROMPT_DEPTH")
        text_width, vision_width = clip_model.ln_final.weight.shape[0], visual.transformer.width
        # The reference's order of random draws: context, proj, deeper prompts, the deeper projection.
        ctx, prompt_prefix = initial_deep_context(mcfg.CTX_INIT, mcfg.N_CTX, clip_model, f"{CONFIG_NODE}.N_CTX")
        proj = nn.Linear(text_width, vision_width).to(clip_model.dtype)
        super().__init__(ctx, prompt_prefix, classnames, clip_model)
        self.proj = proj
        self.compound_prompts_text = nn.ParameterList(normal_prompts(depth - 1, self.n_ctx, text_width))
        projection = nn.Linear(text_width, vision_width)
        self.compound_prompt_projections = nn.ModuleList(copy.deepcopy(projection) for _ in range(depth - 1))

    def forward(self) -> Tuple[Tensor, Tensor, List[Tensor], List[Tensor]]:
        """The class prompts' embeddings, the first-level image prompts ``proj(ctx)``, and the deeper
        text and image prompts (entry i goes to block i + 2, 1-based)."""
        deep_text = list(self.compound_prompts_text)
        deep_vision = [layer(prompt) for layer, prompt in zip(self.compound_prompt_projections, deep_text)]
        return self.class_prompts(), self.proj(self.ctx), deep_text, deep_vision


def block_prompts(first: Optional[Tensor], deeper: List[Tensor]) -> Dict[int, Tensor]:
    """The deep-prompt mapping of a tower: ``first`` at the embedding level, deeper[i] before block i + 2."""
    prompts = {index + 2: prompt for index, prompt in enumerate(deeper)}
    if first is not None:
        prompts[0] = first
    return prompts


class CustomCLIP(nn.Module):
    """Frozen CLIP with MaPLe's prompts. Train mode: ``forward(image, label)`` returns the
    cross-entropy, as the reference's model does; eval mode: ``forward(image)`` returns the logits."""

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__()
        self.prompt_learner = MultiModalPromptLearner(cfg, classnames, clip_model)
        self.clip_model = clip_model
        self.dtype = clip_model.dtype
        freeze_except(self, LEARNER_NAME)
        self._text_cache = TextFeatureCache()

    @property
    def tokenized_prompts(self) -> Tensor:
        return self.prompt_learner.tokenized_prompts

    def features(self, image: Tensor) -> Tuple[Tensor, Tensor]:
        """Unnormalised prompted image features [batch, embed] and class text features [n_cls, embed]."""
        prompts, first_vision, deep_text, deep_vision = self.prompt_learner()
        text_features = self._text_cache.get(self.prompt_learner, lambda: self.clip_model.encode_text(
            self.tokenized_prompts, token_embeddings=prompts, deep_prompts=block_prompts(None, deep_text)))
        image_features = self.clip_model.encode_image(
            image.to(self.dtype), deep_prompts=block_prompts(first_vision, deep_vision))
        return image_features, text_features

    def forward(self, image: Tensor, label: Optional[Tensor] = None) -> Tensor:
        image_features, text_features = self.features(image)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        logits = self.clip_model.logit_scale.exp() * image_features @ text_features.t()
        if self.prompt_learner.training:
            if label is None:
                raise ValueError("MaPLe's model returns its loss in train mode, so it needs the labels.")
            return F.cross_entropy(logits, label)
        return logits


def reference_learned_key(key: str) -> bool:
    """The reference's rule for what MaPLe trains: every prompt-learner tensor."""
    return key.startswith(f"{LEARNER_NAME}.")


@TRAINER_REGISTRY.register()
class MaPLe(LearnerTrainer):
    """Trains the prompt learner with cross-entropy; only it is optimised and saved."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.MAPLE.PREC, f"{CONFIG_NODE}.PREC")

    def build_model(self) -> None:
        self.model = self.build_custom_clip(self.cfg.TRAINER.MAPLE.PREC, CustomCLIP)
        self.register_learner(CHECKPOINT_NAME, LearnedParts({LEARNER_NAME: self.model.prompt_learner}))

    def compute_loss(self, image: Tensor, label: Tensor) -> Tuple[Tensor, None]:
        """The model returns the loss itself in train mode; no logits, so the summary has no accuracy."""
        return self.model(image, label), None

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/MultiModalPromptLearner/model.pth.tar-<epoch>``, ours or the reference's."""
        load_learned_parts(self, directory, epoch, reference_learned_key, DERIVED_BUFFERS, maple_settings(self.cfg))
