"""Zero-shot CLIP: classify with the text features of hand-written prompts, nothing trained.

``ZeroshotCLIP`` uses each dataset's single template (CoOp's table in ``_templates.py``);
``TRAINER.ZSCLIP.TEMPLATES ensemble`` (or the trainer name ``ZeroshotCLIP2``, as in CoOp) averages the
normalised text features of the seven-template ImageNet ensemble, plus the dataset's own template for
datasets other than ImageNet, and renormalises.
"""
from __future__ import annotations

from typing import List, Sequence

import torch
from torch import Tensor

from clip import clip
from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.utils.errors import ConfigValueError

from .kit.backbone import check_precision, load_backbone
from .kit.templates import dataset_template, ensemble_templates, fill_template

CONFIG_NODE = "TRAINER.ZSCLIP"
TEMPLATE_CHOICES = ("dataset", "ensemble")


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.ZSCLIP``: precision (CLIP's own fp16 by default) and which templates to use."""
    node = CfgNode()
    node.PREC = "fp16"
    node.TEMPLATES = "dataset"
    cfg.TRAINER.ZSCLIP = node


@torch.no_grad()
def prompt_features(clip_model: CLIP, prompts: Sequence[str]) -> Tensor:
    """L2-normalised text features of ``prompts`` [n, embed_dim], on the model's device."""
    device = clip_model.token_embedding.weight.device
    features = clip_model.encode_text(clip.tokenize(list(prompts)).to(device))
    return features / features.norm(dim=-1, keepdim=True)


@torch.no_grad()
def zeroshot_classifier(clip_model: CLIP, templates: Sequence[str], classnames: List[str]) -> Tensor:
    """One normalised text feature per class: a single template's, or the renormalised mean of the
    per-template normalised features."""
    if len(templates) == 1:
        return prompt_features(clip_model, fill_template(templates[0], classnames))
    mean = torch.stack([prompt_features(clip_model, fill_template(t, classnames)) for t in templates]).mean(dim=0)
    return mean / mean.norm(dim=-1, keepdim=True)


def zeroshot_logits(clip_model: CLIP, image: Tensor, class_features: Tensor) -> Tensor:
    """exp(logit_scale) x cosine of the images against the normalised class features."""
    image_features = clip_model.encode_image(image)
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    return clip_model.logit_scale.exp() * image_features @ class_features.t()


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(TrainerX):
    """Evaluation only: ``train()`` evaluates directly, since there is nothing to learn."""

    template_choice = None

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.ZSCLIP.PREC, f"{CONFIG_NODE}.PREC")
        choice = cfg.TRAINER.ZSCLIP.TEMPLATES
        if choice not in TEMPLATE_CHOICES:
            raise ConfigValueError(f"{CONFIG_NODE}.TEMPLATES is {choice!r}; it must be one of {', '.join(TEMPLATE_CHOICES)}.")

    def templates(self) -> List[str]:
        name = self.cfg.DATASET.NAME
        choice = self.template_choice or self.cfg.TRAINER.ZSCLIP.TEMPLATES
        return ensemble_templates(name) if choice == "ensemble" else [dataset_template(name)]

    def build_model(self) -> None:
        cfg = self.cfg
        _, clip_model = load_backbone(cfg, cfg.TRAINER.ZSCLIP.PREC, self.device)
        self.clip_model = clip_model.to(self.device)
        templates = self.templates()
        print(f"Prompt templates ({len(templates)}): " + " | ".join(templates))
        self.class_features = zeroshot_classifier(self.clip_model, templates, self.dm.dataset.classnames)

    @torch.no_grad()
    def model_inference(self, input: Tensor) -> Tensor:
        return zeroshot_logits(self.clip_model, input, self.class_features)

    def train(self) -> None:
        print("Zero-shot CLIP has nothing to train: evaluating directly")
        self.test()


@TRAINER_REGISTRY.register()
class ZeroshotCLIP2(ZeroshotCLIP):
    """CoOp's name for zero-shot CLIP with the prompt ensemble."""

    template_choice = "ensemble"
