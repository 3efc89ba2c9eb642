"""PromptSRC (Khattak et al., ICCV 2023): deep prompts in both towers, held close to frozen CLIP.

Independent learned tokens enter the first PROMPT_DEPTH_TEXT blocks of the text tower and the first
PROMPT_DEPTH_VISION blocks of the image tower. Three regularisers tie the prompted model to the frozen
one: L1 between the normalised prompted and frozen text features (the frozen ones averaged over 60
ImageNet templates), L1 between the normalised prompted and frozen image features, and KL between the
zero-shot and prompted class distributions. The model used at the end is a Gaussian-weighted average
of the prompts after each epoch (GPA). The frozen image features come from the backbone's own tower
with no prompts: there is no second copy of it. Names follow the reference's ``trainers/promptsrc.py``
so that its checkpoints load; the widths come from the backbone (any ViT).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clip import clip
from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TRAINER_REGISTRY

from .kit.backbone import check_precision, require_vit
from .kit.deep_prompts import (ContextPrompts, LearnedParts, PromptConfigError, check_prompt_depth,
                               initial_deep_context, load_learned_parts, normal_prompts)
from .kit.templates import IMAGENET_TEMPLATES_60, fill_template
from .kit.text_cache import TextFeatureCache
from .kit.text_prefix import used_context_length
from .kit.training import LearnerTrainer

CONFIG_NODE = "TRAINER.PROMPTSRC"
# The reference registers its whole model under this name; ours registers the learned parts there.
CHECKPOINT_NAME = "VLPromptLearner"
LEARNED_PARTS = ("prompt_learner", "image_encoder", "text_encoder")
DERIVED_BUFFERS = ("prompt_learner.token_prefix", "prompt_learner.token_suffix")
LOSS_KEYS = ("loss_ce", "l1_text", "loss_scl_text", "l1_image", "loss_scl_image", "kl_sum",
             "loss_scl_logits", "loss_total")


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.PROMPTSRC`` with the reference's train.py defaults (the b2n values)."""
    node = CfgNode()
    node.N_CTX_VISION = 4
    node.N_CTX_TEXT = 4
    node.CTX_INIT = "a photo of a"
    node.PREC = "fp16"
    node.PROMPT_DEPTH_VISION = 9
    node.PROMPT_DEPTH_TEXT = 9
    node.TEXT_LOSS_WEIGHT = 25
    node.IMAGE_LOSS_WEIGHT = 10
    node.GPA_MEAN = 15
    node.GPA_STD = 1
    cfg.TRAINER.PROMPTSRC = node


def promptsrc_settings(cfg: CfgNode) -> str:
    pcfg = cfg.TRAINER.PROMPTSRC
    return (f"{CONFIG_NODE} N_CTX_TEXT {pcfg.N_CTX_TEXT}, N_CTX_VISION {pcfg.N_CTX_VISION}, PROMPT_DEPTH_TEXT "
            f"{pcfg.PROMPT_DEPTH_TEXT}, PROMPT_DEPTH_VISION {pcfg.PROMPT_DEPTH_VISION}, "
            f"backbone {cfg.MODEL.BACKBONE.NAME!r}")


class BlockPrompt(nn.Module):
    """One block's learned tokens, under the reference's name ``VPT_shallow``."""

    def __init__(self, prompt: nn.Parameter) -> None:
        super().__init__()
        self.VPT_shallow = prompt


class PromptedBlocks(nn.Module):
    def __init__(self, prompts: List[nn.Parameter]) -> None:
        super().__init__()
        self.resblocks = nn.ModuleDict({str(block): BlockPrompt(p) for block, p in enumerate(prompts, start=1)})


class TowerPrompts(nn.Module):
    """A tower's learned tokens keyed as in the reference's model: ``VPT`` (image tokens appended at
    the embedding level) and ``transformer.resblocks.<i>.VPT_shallow`` (the tokens entering 0-based
    block i, i >= 1). ``deep_prompts()`` maps them to the CLIP seam's 1-based indices."""

    def __init__(self, first: Optional[nn.Parameter], deeper: List[nn.Parameter]) -> None:
        super().__init__()
        if first is not None:
            self.VPT = first
        self.transformer = PromptedBlocks(deeper)

    def deep_prompts(self) -> Dict[int, Tensor]:
        prompts = {int(i) + 1: block.VPT_shallow for i, block in self.transformer.resblocks.items()}
        if hasattr(self, "VPT"):
            prompts[0] = self.VPT
        return prompts


@torch.no_grad()
def template_mean_features(clip_model: CLIP, classnames: List[str]) -> Tensor:
    """Per class, the mean of the frozen text features over the 60 templates (each left unnormalised,
    as the reference averages them) [n_cls, embed], fp32."""
    device = clip_model.token_embedding.weight.device
    total = None
    for template in IMAGENET_TEMPLATES_60:
        tokens = clip.tokenize(fill_template(template, classnames))
        tokens = tokens[:, :used_context_length(tokens)].to(device)
        features = clip_model.encode_text(tokens).float()
        total = features if total is None else total + features
    return total / len(IMAGENET_TEMPLATES_60)


def normalise(x: Tensor) -> Tensor:
    return x / x.norm(dim=-1, keepdim=True)


class CustomCLIP(nn.Module):
    """Frozen CLIP with PromptSRC's prompts. Eval mode: ``forward(image)`` returns the logits. Train
    mode: ``forward(image, label)`` returns a dict with every term of the loss (``LOSS_KEYS``, with the
    config's weights) and the ``logits``; the trainer backpropagates ``loss_total``."""

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__()
        pcfg = cfg.TRAINER.PROMPTSRC
        visual = require_vit(cfg, clip_model, "PromptSRC")
        text_width, vision_width = clip_model.ln_final.weight.shape[0], visual.transformer.width
        check_prompt_depth(pcfg.PROMPT_DEPTH_TEXT, clip_model.transformer.layers, f"{CONFIG_NODE}.PROMPT_DEPTH_TEXT")
        check_prompt_depth(pcfg.PROMPT_DEPTH_VISION, visual.transformer.layers,
                           f"{CONFIG_NODE}.PROMPT_DEPTH_VISION", minimum=0)
        if pcfg.PROMPT_DEPTH_VISION and pcfg.N_CTX_VISION < 1:
            raise PromptConfigError(f"{CONFIG_NODE}.N_CTX_VISION is {pcfg.N_CTX_VISION}; with vision prompts "
                                    "it must be at least 1 (or set PROMPT_DEPTH_VISION 0).")
        ctx, prompt_prefix = initial_deep_context(pcfg.CTX_INIT, pcfg.N_CTX_TEXT, clip_model,
                                                  f"{CONFIG_NODE}.N_CTX_TEXT")
        self.prompt_learner = ContextPrompts(ctx, prompt_prefix, classnames, clip_model)
        n_vision = pcfg.N_CTX_VISION
        vision = normal_prompts(pcfg.PROMPT_DEPTH_VISION, n_vision, vision_width)
        self.image_encoder = TowerPrompts(vision[0] if vision else None, vision[1:])
        self.text_encoder = TowerPrompts(None, normal_prompts(pcfg.PROMPT_DEPTH_TEXT - 1, ctx.shape[0], text_width))
        self.clip_model = clip_model
        self.dtype = clip_model.dtype
        self.text_loss_weight = pcfg.TEXT_LOSS_WEIGHT
        self.image_loss_weight = pcfg.IMAGE_LOSS_WEIGHT
        self.register_buffer("fixed_embeddings", template_mean_features(clip_model, classnames), persistent=False)
        for name, param in self.named_parameters():
            param.requires_grad_(name.split(".")[0] in LEARNED_PARTS)
        # Registered with the engine on its own (not a child, so the state dict has no second copy).
        object.__setattr__(self, "learned_parts", LearnedParts({name: getattr(self, name) for name in LEARNED_PARTS}))
        self._text_cache = TextFeatureCache()

    def train(self, mode: bool = True) -> "CustomCLIP":
        super().train(mode)
        self.learned_parts.train(mode)
        return self

    @property
    def tokenized_prompts(self) -> Tensor:
        return self.prompt_learner.tokenized_prompts

    def text_features(self) -> Tensor:
        """Unnormalised prompted text features of the class prompts [n_cls, embed]."""
        return self._text_cache.get(self.learned_parts, lambda: self.clip_model.encode_text(
            self.tokenized_prompts, token_embeddings=self.prompt_learner.class_prompts(),
            deep_prompts=self.text_encoder.deep_prompts()))

    def image_features(self, image: Tensor) -> Tensor:
        return self.clip_model.encode_image(image.to(self.dtype), deep_prompts=self.image_encoder.deep_prompts())

    @torch.no_grad()
    def zero_shot_image_features(self, image: Tensor) -> Tensor:
        """The frozen CLIP's image features: the backbone's own tower, run without prompts."""
        return self.clip_model.encode_image(image.to(self.dtype))

    def forward(self, image: Tensor, label: Optional[Tensor] = None):
        text_features = normalise(self.text_features())
        image_features = normalise(self.image_features(image))
        scale = self.clip_model.logit_scale.exp()
        logits = scale * image_features @ text_features.t()
        if not self.prompt_learner.training:
            return logits
        if label is None:
            raise ValueError("PromptSRC's model returns its loss terms in train mode, so it needs the labels.")
        return self.loss_terms(logits, text_features, image_features, self.zero_shot_image_features(image), label)

    def loss_terms(self, logits: Tensor, text_features: Tensor, image_features: Tensor, zero_shot_image: Tensor,
                   label: Tensor) -> Dict[str, Tensor]:
        fixed = normalise(self.fixed_embeddings).to(text_features.dtype)
        zero_shot_image = normalise(zero_shot_image).to(image_features.dtype)
        with torch.no_grad():
            zero_shot_logits = self.clip_model.logit_scale.exp() * zero_shot_image @ fixed.t()
        terms = {"loss_ce": F.cross_entropy(logits, label),
                 "l1_text": F.l1_loss(text_features, fixed),
                 "l1_image": F.l1_loss(image_features, zero_shot_image),
                 "kl_sum": F.kl_div(F.log_softmax(logits, dim=1), F.log_softmax(zero_shot_logits, dim=1),
                                    reduction="sum", log_target=True)}
        terms["loss_scl_text"] = self.text_loss_weight * terms["l1_text"]
        terms["loss_scl_image"] = self.image_loss_weight * terms["l1_image"]
        terms["loss_scl_logits"] = terms["kl_sum"] / logits.numel()
        terms["loss_total"] = terms["loss_ce"] + (terms["loss_scl_logits"] + terms["loss_scl_text"]
                                                  + terms["loss_scl_image"])
        terms["logits"] = logits
        return terms


def gaussian_epoch_weights(max_epoch: int, mean: float, std: float) -> Tensor:
    """GPA's weight of each epoch (epoch 1 first, float64): the N(mean, std^2) density at 1..max_epoch,
    divided by its sum."""
    if std <= 0:
        raise PromptConfigError(f"{CONFIG_NODE}.GPA_STD is {std}; it must be positive.")
    density = [1 / (std * math.sqrt(2 * math.pi)) * math.exp(-0.5 * ((e - mean) / std) ** 2)
               for e in range(1, max_epoch + 1)]
    if sum(density) == 0:
        raise PromptConfigError(f"{CONFIG_NODE}.GPA_MEAN {mean} / GPA_STD {std} give every epoch of 1..{max_epoch} "
                                "a zero weight; put the mean within the epochs or widen the std.")
    weights = torch.tensor(density, dtype=torch.float64)
    return weights / weights.sum()


class PromptAggregate:
    """The running Gaussian-weighted sum of the learned tensors after each epoch (fp32), and the epochs
    it holds; it travels in the resumable state so a resumed run ends with the same aggregate."""

    def __init__(self, weights: Tensor) -> None:
        self.weights = weights
        self.sums: Dict[str, Tensor] = {}
        self.epochs: List[int] = []

    def add(self, epoch: int, parameters: Dict[str, Tensor]) -> None:
        """Add the tensors after ``epoch`` (0-based) with that epoch's weight."""
        weight = float(self.weights[epoch])
        for name, value in parameters.items():
            term = value.detach().float() * weight
            self.sums[name] = term if name not in self.sums else self.sums[name] + term
        self.epochs.append(epoch)

    def load_into(self, module: nn.Module) -> None:
        expected = list(range(len(self.weights)))
        if self.epochs != expected:
            raise RuntimeError(f"GPA holds epochs {self.epochs}, not every epoch {expected}: the aggregate would "
                               "miss some; resume from a resume.pth written by this version.")
        with torch.no_grad():
            for name, param in module.named_parameters():
                if name in self.sums:
                    param.copy_(self.sums[name].to(param.dtype))

    def state(self) -> Dict[str, Any]:
        return {"sums": dict(self.sums), "epochs": list(self.epochs)}

    def load_state(self, state: Dict[str, Any]) -> None:
        self.sums = dict(state["sums"])
        self.epochs = list(state["epochs"])


def reference_learned_key(key: str) -> bool:
    """The reference's rule for what PromptSRC trains (its checkpoint also holds the frozen CLIP and a
    copy of the image tower, ``prompt_learner.ZS_image_encoder``)."""
    return (key.startswith("prompt_learner.") and "ZS_image_encoder" not in key) or "VPT" in key


@TRAINER_REGISTRY.register()
class PromptSRC(LearnerTrainer):
    """Trains the prompts with PromptSRC's loss; the model tested and saved after the last epoch is the
    Gaussian aggregate of the prompts after every epoch."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.PROMPTSRC.PREC, f"{CONFIG_NODE}.PREC")
        gaussian_epoch_weights(cfg.OPTIM.MAX_EPOCH, cfg.TRAINER.PROMPTSRC.GPA_MEAN, cfg.TRAINER.PROMPTSRC.GPA_STD)

    def build_model(self) -> None:
        pcfg = self.cfg.TRAINER.PROMPTSRC
        self.model = self.build_custom_clip(pcfg.PREC, CustomCLIP)
        self.register_learner(CHECKPOINT_NAME, self.model.learned_parts)
        self.aggregate = PromptAggregate(gaussian_epoch_weights(self.max_epoch, pcfg.GPA_MEAN, pcfg.GPA_STD))

    def compute_loss(self, image: Tensor, label: Tensor) -> Tuple[Tensor, Tensor]:
        terms = self.model(image, label)
        return terms["loss_total"], terms["logits"]

    def forward_backward(self, batch: Dict[str, Tensor]) -> Dict[str, float]:
        summary = super().forward_backward(batch)
        if (self.batch_idx + 1) == self.num_batches:
            learned = self.model.learned_parts
            self.aggregate.add(self.epoch, {n: p for n, p in learned.named_parameters() if p.requires_grad})
            if (self.epoch + 1) == self.max_epoch:
                print("Using the Gaussian prompt aggregate (GPA) for the final model")
                self.aggregate.load_into(learned)
        return summary

    def extra_training_state(self) -> Dict[str, Any]:
        return {"gpa": self.aggregate.state()}

    def load_extra_training_state(self, state: Dict[str, Any]) -> None:
        if "gpa" in state:
            self.aggregate.load_state(state["gpa"])

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/VLPromptLearner/model.pth.tar-<epoch>``, ours or the reference's."""
        load_learned_parts(self, directory, epoch, reference_learned_key, DERIVED_BUFFERS,
                           promptsrc_settings(self.cfg))
