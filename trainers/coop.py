"""CoOp (Zhou et al., IJCV 2022): learn the words of the prompt, keep CLIP frozen.

The class prompt is "<context> <class name>." where the context is N_CTX learned vectors in token
space, shared by all classes or one set per class (CSC), started from words (CTX_INIT) or at random,
with the class tokens at the end, in the middle or at the front of the context. Module, class and
state-dict names follow CoOp's ``trainers/coop.py`` so that checkpoints move between the two code bases.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import Tensor, nn

from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TRAINER_REGISTRY
from dassl.utils.errors import ConfigValueError

from .kit.backbone import check_precision, freeze_except
from .kit.checkpoints import load_learners
from .kit.prompting import CLASS_TOKEN_POSITIONS, class_prompt_tokens, initial_context, token_order
from .kit.text_cache import TextFeatureCache
from .kit.training import LearnerTrainer

CONFIG_NODE = "TRAINER.COOP"
LEARNER_NAME = "prompt_learner"
DERIVED_BUFFERS = ("token_prefix", "token_suffix")


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.COOP`` with CoOp's train.py defaults."""
    node = CfgNode()
    node.N_CTX = 16
    node.CSC = False
    node.CTX_INIT = ""
    node.PREC = "fp16"
    node.CLASS_TOKEN_POSITION = "end"
    cfg.TRAINER.COOP = node


def coop_settings(cfg: CfgNode) -> str:
    """The TRAINER.COOP values that decide the prompt learner's shapes, for error messages."""
    ccfg = cfg.TRAINER.COOP
    return f"{CONFIG_NODE} N_CTX {ccfg.N_CTX}, CSC {ccfg.CSC}, CTX_INIT {ccfg.CTX_INIT!r}"


def check_class_token_position(position: str) -> str:
    if position not in CLASS_TOKEN_POSITIONS:
        raise ConfigValueError(
            f"{CONFIG_NODE}.CLASS_TOKEN_POSITION is {position!r}; it must be one of "
            f"{', '.join(CLASS_TOKEN_POSITIONS)}."
        )
    return position


class PromptLearner(nn.Module):
    """The learned context ``ctx`` and the frozen class-token buffers; its forward returns the token
    embeddings of every class prompt [n_cls, context_length, dim]."""

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__()
        ccfg = cfg.TRAINER.COOP
        position = check_class_token_position(ccfg.CLASS_TOKEN_POSITION)
        n_cls = len(classnames)
        if ccfg.CTX_INIT and ccfg.CSC:
            print(f"{CONFIG_NODE}.CTX_INIT is set, so the context is shared by all classes (CSC is ignored, as in CoOp)")
        class_specific = ccfg.CSC and not ccfg.CTX_INIT
        ctx_vectors, prompt_prefix = initial_context(
            ccfg.CTX_INIT, ccfg.N_CTX, clip_model, n_cls if class_specific else None
        )
        self.ctx = nn.Parameter(ctx_vectors)
        self.n_cls = n_cls
        self.n_ctx = ctx_vectors.shape[-2]
        self.class_token_position = position
        print(f'Initial context: "{prompt_prefix}"')
        print(f"Number of context words (tokens): {self.n_ctx}")

        tokenized, embedding, name_lens = class_prompt_tokens(prompt_prefix, classnames, clip_model)
        self.name_lens = name_lens
        self.register_buffer("token_prefix", embedding[:, :1, :])
        self.register_buffer("token_suffix", embedding[:, 1 + self.n_ctx:, :])
        self.register_buffer("tokenized_prompts", tokenized, persistent=False)
        order = token_order(position, self.n_ctx, name_lens, tokenized.shape[1])
        self.register_buffer("token_order", order, persistent=False)

    def forward(self) -> Tensor:
        ctx = self.ctx
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        prompts = torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)
        if self.class_token_position == "end":
            return prompts
        rows = torch.arange(self.n_cls, device=prompts.device).unsqueeze(1)
        return prompts[rows, self.token_order]


class CustomCLIP(nn.Module):
    """Frozen CLIP with CoOp's prompt learner: cosine logits of images against the learned prompts."""

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__()
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model)
        self.clip_model = clip_model
        self.dtype = clip_model.dtype
        freeze_except(self, LEARNER_NAME)
        self._text_cache = TextFeatureCache()

    @property
    def tokenized_prompts(self) -> Tensor:
        return self.prompt_learner.tokenized_prompts

    def text_features(self) -> Tensor:
        """Unnormalised text features of the class prompts [n_cls, embed_dim]."""
        return self._text_cache.get(
            self.prompt_learner,
            lambda: self.clip_model.encode_text(self.tokenized_prompts, token_embeddings=self.prompt_learner()),
        )

    def forward(self, image: Tensor) -> Tensor:
        image_features = self.clip_model.encode_image(image.to(self.dtype))
        text_features = self.text_features()
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        return self.clip_model.logit_scale.exp() * image_features @ text_features.t()


@TRAINER_REGISTRY.register()
class CoOp(LearnerTrainer):
    """Trains the context with cross-entropy; only ``prompt_learner`` is optimised and saved."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.COOP.PREC, f"{CONFIG_NODE}.PREC")
        check_class_token_position(cfg.TRAINER.COOP.CLASS_TOKEN_POSITION)

    def build_model(self) -> None:
        self.model = self.build_custom_clip(self.cfg.TRAINER.COOP.PREC, CustomCLIP)
        self.register_learner(LEARNER_NAME, self.model.prompt_learner)

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/prompt_learner/model.pth.tar-<epoch>``; the checkpoint's token buffers
        (class-dependent) are ignored, the context must fit."""
        load_learners(self, directory, epoch, DERIVED_BUFFERS, coop_settings(self.cfg))
