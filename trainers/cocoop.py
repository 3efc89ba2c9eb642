"""CoCoOp (Zhou et al., CVPR 2022): CoOp's context shifted per image by a small meta-net.

Each image gets its own prompts: a two-layer meta-net maps the normalised image feature to a vector
added to every context vector, so the text features are recomputed for every image. The reference
encodes one image's prompts at a time; ``TRAINER.COCOOP.BATCHED`` encodes the prompts of several images
in one text-encoder pass (up to ``PROMPTS_PER_PASS`` prompts), which gives the same numbers faster.
Names follow CoOp's ``trainers/cocoop.py`` so that checkpoints move between the two code bases.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TRAINER_REGISTRY
from dassl.utils.errors import ConfigValueError

from .kit.backbone import check_precision, freeze_except
from .kit.checkpoints import load_learners
from .kit.prompting import class_prompt_tokens, initial_context
from .kit.training import LearnerTrainer

CONFIG_NODE = "TRAINER.COCOOP"
LEARNER_NAME = "prompt_learner"
DERIVED_BUFFERS = ("token_prefix", "token_suffix")


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.COCOOP`` with CoOp's train.py defaults, plus the batched-forward switch."""
    node = CfgNode()
    node.N_CTX = 16
    node.CTX_INIT = ""
    node.PREC = "fp16"
    node.BATCHED = True
    node.PROMPTS_PER_PASS = 4096
    cfg.TRAINER.COCOOP = node


def cocoop_settings(cfg: CfgNode) -> str:
    ccfg = cfg.TRAINER.COCOOP
    return f"{CONFIG_NODE} N_CTX {ccfg.N_CTX}, CTX_INIT {ccfg.CTX_INIT!r}, backbone {cfg.MODEL.BACKBONE.NAME!r}"


class PromptLearner(nn.Module):
    """The shared context ``ctx``, the ``meta_net`` and the frozen class-token buffers; its forward
    returns every image's class prompts [batch, n_cls, context_length, dim]."""

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__()
        ccfg = cfg.TRAINER.COCOOP
        ctx_vectors, prompt_prefix = initial_context(ccfg.CTX_INIT, ccfg.N_CTX, clip_model)
        self.ctx = nn.Parameter(ctx_vectors)
        self.n_cls = len(classnames)
        self.n_ctx = ctx_vectors.shape[0]
        print(f'Initial context: "{prompt_prefix}"')
        print(f"Number of context words (tokens): {self.n_ctx}")

        vis_dim = clip_model.visual.output_dim
        ctx_dim = ctx_vectors.shape[1]
        if vis_dim < 16:
            raise ConfigValueError(f"CoCoOp's meta-net narrows the {vis_dim}-d image feature 16 times; it needs at least 16 dims.")
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(vis_dim, vis_dim // 16)),
            ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(vis_dim // 16, ctx_dim)),
        ]))
        self.meta_net.to(clip_model.dtype)

        tokenized, embedding, _ = class_prompt_tokens(prompt_prefix, classnames, clip_model)
        self.register_buffer("token_prefix", embedding[:, :1, :])
        self.register_buffer("token_suffix", embedding[:, 1 + self.n_ctx:, :])
        self.register_buffer("tokenized_prompts", tokenized, persistent=False)

    def forward(self, image_features: Tensor) -> Tensor:
        shift = self.meta_net(image_features)
        ctx = self.ctx.unsqueeze(0) + shift.unsqueeze(1)
        batch = ctx.shape[0]
        prefix = self.token_prefix.unsqueeze(0).expand(batch, -1, -1, -1)
        suffix = self.token_suffix.unsqueeze(0).expand(batch, -1, -1, -1)
        ctx = ctx.unsqueeze(1).expand(-1, self.n_cls, -1, -1)
        return torch.cat([prefix, ctx, suffix], dim=2)


class CustomCLIP(nn.Module):
    """Frozen CLIP with CoCoOp's prompt learner. In train mode ``forward(image, label)`` returns the
    cross-entropy loss, in eval mode the logits, as CoCoOp's model does."""

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__()
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model)
        self.clip_model = clip_model
        self.dtype = clip_model.dtype
        ccfg = cfg.TRAINER.COCOOP
        if ccfg.PROMPTS_PER_PASS < 1:
            raise ConfigValueError(f"{CONFIG_NODE}.PROMPTS_PER_PASS is {ccfg.PROMPTS_PER_PASS}; it must be at least 1.")
        images_per_pass = max(1, ccfg.PROMPTS_PER_PASS // self.prompt_learner.n_cls) if ccfg.BATCHED else 1
        self.images_per_pass = images_per_pass
        freeze_except(self, LEARNER_NAME)

    @property
    def tokenized_prompts(self) -> Tensor:
        return self.prompt_learner.tokenized_prompts

    def class_scores(self, image_features: Tensor, prompts: Tensor) -> Tensor:
        """Logits of a group of images against their own prompts, one text-encoder pass for the group."""
        group, n_cls, length, dim = prompts.shape
        tokens = self.tokenized_prompts.repeat(group, 1)
        text_features = self.clip_model.encode_text(tokens, token_embeddings=prompts.reshape(-1, length, dim))
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        text_features = text_features.view(group, n_cls, -1)
        return (text_features @ image_features.unsqueeze(-1)).squeeze(-1)

    def forward(self, image: Tensor, label: Optional[Tensor] = None) -> Tensor:
        image_features = self.clip_model.encode_image(image.to(self.dtype))
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        prompts = self.prompt_learner(image_features)
        step = self.images_per_pass
        scores = [
            self.class_scores(image_features[start:start + step], prompts[start:start + step])
            for start in range(0, image_features.shape[0], step)
        ]
        logits = self.clip_model.logit_scale.exp() * torch.cat(scores)
        if self.prompt_learner.training:
            if label is None:
                raise ValueError("CoCoOp's model returns its loss in train mode, so it needs the labels.")
            return F.cross_entropy(logits, label)
        return logits


@TRAINER_REGISTRY.register()
class CoCoOp(LearnerTrainer):
    """Trains the context and the meta-net with cross-entropy (batch size 1 in CoOp's configs)."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.COCOOP.PREC, f"{CONFIG_NODE}.PREC")

    def build_model(self) -> None:
        self.model = self.build_custom_clip(self.cfg.TRAINER.COCOOP.PREC, CustomCLIP)
        self.register_learner(LEARNER_NAME, self.model.prompt_learner)

    def compute_loss(self, image: Tensor, label: Tensor) -> Tuple[Tensor, None]:
        """The model returns the loss itself in train mode; no logits, so the summary has no accuracy."""
        return self.model(image, label), None

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/prompt_learner/model.pth.tar-<epoch>``; the checkpoint's token buffers
        (class-dependent) are ignored, the context and meta-net must fit."""
        load_learners(self, directory, epoch, DERIVED_BUFFERS, cocoop_settings(self.cfg))
