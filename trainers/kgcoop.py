"""KgCoOp (Yao et al., CVPR 2023): CoOp plus a knowledge-guided term on the class text features.

The learned context is CoOp's, started from "a photo of a"; the loss adds to cross-entropy
``W * (1 - mean over classes of cos(learned text feature, hand-crafted text feature))``, where the
hand-crafted ("teacher") feature is frozen CLIP's encoding of the dataset's single template. The
reference loads a second CLIP in fp16 on CUDA for the teacher; here it comes from the same frozen
CLIP, in the model's precision, on any device (docs/METHODS.md). Config keys are the reference's
``TRAINER.COOP`` ones plus ``W``; checkpoints hold ``prompt_learner`` with the reference's key names.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from clip import clip
from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TRAINER_REGISTRY
from dassl.utils.errors import FrameworkError

from . import coop
from .kit.backbone import check_precision
from .kit.checkpoints import load_learners
from .kit.templates import DATASET_TEMPLATES
from .kit.training import LearnerTrainer

CONFIG_NODE = "TRAINER.COOP"
LEARNER_NAME = "prompt_learner"
# The context every truthy CTX_INIT stands for in the reference (its value and N_CTX are ignored).
REFERENCE_CTX_INIT = "a photo of a"
# The reference checkpoint's class-derived buffers and its never-used parameters: ignored on load.
IGNORED_CHECKPOINT_KEYS = ("token_prefix", "token_suffix", "bias_vectors", "meta_net.linear1.weight",
                           "meta_net.linear1.bias")
COSINE_EPS = 1e-7

# The reference's hand-crafted prompt per dataset: CoOp's table, except for DTD.
HAND_CRAFTED_TEMPLATES: Dict[str, str] = dict(
    DATASET_TEMPLATES, DescribableTextures="a photo of a {}, a type of texture."
)


class UnknownTemplateDatasetError(FrameworkError, KeyError):
    """KgCoOp's guidance needs a hand-crafted prompt for the dataset."""

    def __str__(self) -> str:
        return str(self.args[0])


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.COOP.W`` (the reference's default 1.0) to CoOp's node, creating it if needed."""
    if "COOP" not in cfg.TRAINER:
        coop.extend_cfg(cfg)
    cfg.TRAINER.COOP.W = 1.0


def hand_crafted_template(dataset_name: str) -> str:
    try:
        return HAND_CRAFTED_TEMPLATES[dataset_name]
    except KeyError:
        raise UnknownTemplateDatasetError(
            f"KgCoOp has no hand-crafted prompt for DATASET.NAME {dataset_name!r}. Known datasets: "
            f"{', '.join(sorted(HAND_CRAFTED_TEMPLATES))}. Add one to HAND_CRAFTED_TEMPLATES in "
            "trainers/kgcoop.py."
        ) from None


def reference_prompt_cfg(cfg: CfgNode) -> CfgNode:
    """The TRAINER.COOP values the reference really uses: any CTX_INIT means "a photo of a" (4 tokens),
    and the class token is always at the end."""
    ccfg = cfg.TRAINER.COOP
    effective = cfg.clone()
    effective.defrost()
    if ccfg.CTX_INIT and ccfg.CTX_INIT != REFERENCE_CTX_INIT:
        print(f'KgCoOp starts the context from "{REFERENCE_CTX_INIT}" whenever {CONFIG_NODE}.CTX_INIT is set '
              f"(as its reference code); {ccfg.CTX_INIT!r} and N_CTX {ccfg.N_CTX} are not used")
    if ccfg.CTX_INIT:
        effective.TRAINER.COOP.CTX_INIT = REFERENCE_CTX_INIT
    effective.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"
    return effective


def hand_crafted_text_features(clip_model: CLIP, classnames: List[str], template: str) -> Tensor:
    """Frozen CLIP's L2-normalised text features of ``template`` filled with every class name."""
    prompts = [template.format(name.replace("_", " ")) for name in classnames]
    tokens = clip.tokenize(prompts).to(clip_model.token_embedding.weight.device)
    with torch.no_grad():
        features = clip_model.encode_text(tokens)
    return features / features.norm(dim=-1, keepdim=True)


def guidance_score(text_features: Tensor, teacher: Tensor) -> Tensor:
    """1 - mean over classes of cos(learned, hand-crafted), computed in fp32 at least."""
    dtype = torch.promote_types(torch.promote_types(text_features.dtype, teacher.dtype), torch.float32)
    cosine = F.cosine_similarity(text_features.to(dtype), teacher.to(dtype), dim=1, eps=COSINE_EPS)
    return 1.0 - cosine.mean()


class CustomCLIP(coop.CustomCLIP):
    """CoOp's model plus the hand-crafted text features of the same frozen CLIP.

    ``forward(image)`` gives the logits; in train mode ``forward(image, label)`` gives the loss terms
    (``ce_loss``, ``score``, ``kg_loss``, ``loss``) and the ``logits``.
    """

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__(reference_prompt_cfg(cfg), classnames, clip_model)
        self.weight = float(cfg.TRAINER.COOP.W)
        template = hand_crafted_template(cfg.DATASET.NAME)
        teacher = hand_crafted_text_features(clip_model, classnames, template)
        self.register_buffer("hand_crafted_text_features", teacher, persistent=False)

    def forward(self, image: Tensor, label: Optional[Tensor] = None) -> Union[Tensor, Dict[str, Tensor]]:
        image_features = self.clip_model.encode_image(image.to(self.dtype))
        text_features = self.text_features()
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        logits = self.clip_model.logit_scale.exp() * image_features @ text_features.t()
        if label is None:
            return logits
        ce_loss = F.cross_entropy(logits, label)
        score = guidance_score(text_features, self.hand_crafted_text_features)
        kg_loss = self.weight * score
        return {"logits": logits, "ce_loss": ce_loss, "score": score, "kg_loss": kg_loss,
                "loss": ce_loss + kg_loss}


@TRAINER_REGISTRY.register()
class KgCoOp(LearnerTrainer):
    """Trains CoOp's context with cross-entropy plus the knowledge-guided term; only
    ``prompt_learner`` is optimised and saved."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.COOP.PREC, f"{CONFIG_NODE}.PREC")
        hand_crafted_template(cfg.DATASET.NAME)

    def build_model(self) -> None:
        self.model = self.build_custom_clip(self.cfg.TRAINER.COOP.PREC, CustomCLIP)
        self.register_learner(LEARNER_NAME, self.model.prompt_learner)

    def compute_loss(self, image: Tensor, label: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        terms = self.model(image, label)
        return terms["loss"], terms["logits"]

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/prompt_learner/model.pth.tar-<epoch>`` (ours or the reference's: its
        token buffers and unused ``bias_vectors`` / ``meta_net`` are ignored; the context must fit)."""
        load_learners(self, directory, epoch, IGNORED_CHECKPOINT_KEYS, coop.coop_settings(self.cfg))
