"""CLIP-Adapter (Gao et al., IJCV 2024), as released: a bottleneck MLP on CLIP's image feature, mixed
back into the feature with a residual ratio alpha; the text side is zero-shot CLIP's single prompt.

``VARIANT released``: Linear(d -> d/4, no bias), ReLU, Linear(d/4 -> d, no bias), ReLU on the raw image
feature; f' = alpha * adapter(f) + (1 - alpha) * f, then cosine logits. ``VARIANT arxiv``: the same
adapter on the L2-normalised feature (512 -> 128 -> 512 for ViT-B/16), as the attention-adapter paper
(arXiv 2409.02958) reran it for its comparison; the mix is normalised again for the logits, as always.
The two compute the same function: a bias-free ReLU MLP is positively homogeneous (adapter(c f) =
c adapter(f) for c > 0) and the mix is renormalised, so the variants differ only by the training recipe
that comes with them (configs/trainers/CLIP_Adapter/vit_b16_arxiv.yaml) and by rounding.
Alpha is ``RATIO``, or a dataset's entry in ``DATASET_RATIOS`` ("Name=alpha" strings), since the paper
tunes it per dataset. Only the adapter (``clip_adapter``, keys ``fc.0.weight`` / ``fc.2.weight`` as in
the release) is trained and saved; it stays in fp32 whatever PREC says (PREC sets CLIP's precision),
as in both the release (all fp32) and the arXiv rerun (CLIP fp16, adapter fp32).
"""
from __future__ import annotations

from typing import List, Optional

from torch import Tensor, nn

from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TRAINER_REGISTRY
from dassl.utils.errors import ConfigValueError

from .kit.backbone import check_precision, freeze_except
from .kit.checkpoints import load_learners
from .kit.templates import dataset_template, fill_template
from .kit.training import LearnerTrainer
from .zsclip import prompt_features

CONFIG_NODE = "TRAINER.CLIP_ADAPTER"
LEARNER_NAME = "clip_adapter"
VARIANTS = ("released", "arxiv")


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.CLIP_ADAPTER`` with the release's values (alpha 0.2, reduction 4, fp32)."""
    node = CfgNode()
    node.RATIO = 0.2
    node.DATASET_RATIOS = ()
    node.REDUCTION = 4
    node.VARIANT = "released"
    node.PREC = "fp32"
    cfg.TRAINER.CLIP_ADAPTER = node


def residual_ratio(cfg: CfgNode) -> float:
    """Alpha for ``DATASET.NAME``: its ``DATASET_RATIOS`` entry if it has one, else ``RATIO``."""
    acfg = cfg.TRAINER.CLIP_ADAPTER
    ratio = acfg.RATIO
    for entry in acfg.DATASET_RATIOS:
        name, sep, value = str(entry).partition("=")
        try:
            parsed = float(value)
        except ValueError:
            parsed = None
        if not sep or parsed is None:
            raise ConfigValueError(
                f"{CONFIG_NODE}.DATASET_RATIOS entry {entry!r} is not \"DatasetName=alpha\" "
                "(e.g. \"EuroSAT=0.6\", with DATASET.NAME spelling)."
            )
        if name.strip() == cfg.DATASET.NAME:
            ratio = parsed
    if not 0.0 <= ratio <= 1.0:
        raise ConfigValueError(f"CLIP-Adapter's residual ratio for {cfg.DATASET.NAME} is {ratio}; it must lie in [0, 1].")
    return ratio


class Adapter(nn.Module):
    """Bias-free bottleneck MLP with a ReLU after each layer."""

    def __init__(self, c_in: int, reduction: int = 4) -> None:
        super().__init__()
        if reduction < 1 or c_in // reduction < 1:
            raise ConfigValueError(
                f"{CONFIG_NODE}.REDUCTION is {reduction}; it must be at least 1 and at most the feature size {c_in}."
            )
        self.fc = nn.Sequential(
            nn.Linear(c_in, c_in // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(c_in // reduction, c_in, bias=False),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x)


class CustomCLIP(nn.Module):
    """Frozen CLIP, fixed prompt text features, and the trainable image-feature adapter."""

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__()
        acfg = cfg.TRAINER.CLIP_ADAPTER
        if acfg.VARIANT not in VARIANTS:
            raise ConfigValueError(f"{CONFIG_NODE}.VARIANT is {acfg.VARIANT!r}; it must be one of {', '.join(VARIANTS)}.")
        self.variant = acfg.VARIANT
        self.ratio = residual_ratio(cfg)
        self.clip_model = clip_model
        self.dtype = clip_model.dtype
        self.adapter = Adapter(clip_model.visual.output_dim, acfg.REDUCTION)
        template = dataset_template(cfg.DATASET.NAME)
        text_features = prompt_features(clip_model, fill_template(template, classnames)).float()
        self.register_buffer("text_features", text_features, persistent=False)
        freeze_except(self, "adapter")

    def forward(self, image: Tensor) -> Tensor:
        image_features = self.clip_model.encode_image(image.to(self.dtype)).float()
        if self.variant == "arxiv":
            image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        adapted = self.adapter(image_features)
        image_features = self.ratio * adapted + (1 - self.ratio) * image_features
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        return self.clip_model.logit_scale.exp() * image_features @ self.text_features.t()


@TRAINER_REGISTRY.register()
class CLIP_Adapter(LearnerTrainer):
    """Trains the adapter with cross-entropy; CLIP and the text features stay fixed."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.CLIP_ADAPTER.PREC, f"{CONFIG_NODE}.PREC")

    def build_model(self) -> None:
        self.model = self.build_custom_clip(self.cfg.TRAINER.CLIP_ADAPTER.PREC, CustomCLIP)
        print(f"CLIP-Adapter: variant {self.model.variant}, residual ratio {self.model.ratio}")
        self.register_learner(LEARNER_NAME, self.model.adapter)

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/clip_adapter/model.pth.tar-<epoch>``."""
        acfg = self.cfg.TRAINER.CLIP_ADAPTER
        settings = f"{CONFIG_NODE} REDUCTION {acfg.REDUCTION}, backbone {self.cfg.MODEL.BACKBONE.NAME!r}"
        load_learners(self, directory, epoch, (), settings)
