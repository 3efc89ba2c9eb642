"""MMA: the Multi-Modal Adapter of Yang et al. (CVPR 2024) as a Dassl trainer.

CLIP stays frozen; text, visual and shared adapters run in parallel to the top residual blocks of both
towers (see docs/MMA.md). The adapters enter CLIP only through its side-branch seam, and only
``adapter_learner`` is trained and checkpointed, with the reference's key names.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional

import torch
from torch import Tensor, nn

from clip import clip
from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TRAINER_REGISTRY
from dassl.utils.errors import CheckpointMismatchError, ConfigValueError

from .kit.backbone import backbone_label, check_input_size, check_precision, effective_precision, require_vit
from .kit.branched_clip import BranchedCLIP, add_speed_keys, check_speed_keys
from .kit.checkpoints import key_mismatches, learner_checkpoints
from .kit.shared_backbone import backbone_for
from .kit.text_prefix import used_context_length
from .kit.training import LearnerTrainer

CONFIG_NODE = "TRAINER.MMADAPTER"
LEARNER_NAME = "adapter_learner"
# Buffers the reference stores in its checkpoints; they are derived from the class names, so ours
# leave them out and loading ignores them.
DERIVED_BUFFERS = ("token_embedding", "tokenized_prompts")


class _GradientScale(torch.autograd.Function):
    """Identity going forward; multiplies the incoming gradient by a constant going backward."""

    @staticmethod
    def forward(ctx, x: Tensor, factor: float) -> Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        return grad_output * ctx.factor, None


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    """The reference's gradient-scale layer: ``x`` unchanged, its gradient times ``factor``."""
    return _GradientScale.apply(x, factor)


class ModalityAdapter(nn.Module):
    """Modality-specific down- and up-projection around the shared middle of one MMA adapter."""

    def __init__(self, width: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Linear(width, bottleneck), nn.ReLU())
        self.up = nn.Linear(bottleneck, width)


def _shared_projection(bottleneck: int) -> nn.Sequential:
    """The cross-modal bottleneck-to-bottleneck projection (one per layer index, used by both towers)."""
    return nn.Sequential(nn.Linear(bottleneck, bottleneck), nn.ReLU())


def _reinitialise(modules: nn.ModuleDict) -> None:
    """Kaiming-normal (fan_out, relu) weights and zero biases for every Linear, in module order."""
    for module in modules.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)


class AdapterBranch:
    """One adapted block's side branch, called by CLIP's seam as ``branch(x, h)`` with ``h = ln_1(x)``.

    Computes ``scale * up(shared(down(h)))``. Above index 0 the gradient-scale layers wrap it
    (``1/scale`` on the way out, ``scale`` on the way in), so the adapter parameters receive their
    true gradient divided by ``scale`` while the gradient flowing back into CLIP stays exact.
    Scaling ``h`` instead of ``x`` is the same thing: the LayerNorm backward is linear in the gradient.
    Built afresh at each forward from the learner's own modules, so no closure outlives a replica.
    """

    def __init__(
        self,
        adapter: ModalityAdapter,
        shared: Optional[nn.Module],
        scale: float,
        gradient_scaled: bool,
    ) -> None:
        self.adapter = adapter
        self.shared = shared
        self.scale = scale
        self.gradient_scaled = gradient_scaled

    def __call__(self, x: Tensor, h: Tensor) -> Tensor:
        if self.gradient_scaled:
            h = scale_gradient(h, self.scale)
        z = self.adapter.down(h)
        if self.shared is not None:
            z = self.shared(z)
        out = self.scale * self.adapter.up(z)
        if self.gradient_scaled:
            out = scale_gradient(out, 1.0 / self.scale)
        return out


class MultiModalAdapters(nn.Module):
    """Text, visual and (optionally) shared adapters at layer indices ``start..end`` (inclusive).

    Index 0 is the text token-embedding / image ln_pre level, index k >= 1 the k-th residual block
    (1-based). Construction order follows the reference so that a seeded run draws the same initial
    weights: every text adapter is built and re-initialised, then the visual ones, then the shared ones.
    """

    def __init__(
        self,
        text_width: int,
        visual_width: int,
        start: int,
        end: int,
        bottleneck: int,
        scale: float,
        shared: bool = True,
    ) -> None:
        super().__init__()
        indices = range(start, end + 1)
        self.scale = scale
        self.text_adapter = nn.ModuleDict({str(i): ModalityAdapter(text_width, bottleneck) for i in indices})
        _reinitialise(self.text_adapter)
        self.visual_adapter = nn.ModuleDict({str(i): ModalityAdapter(visual_width, bottleneck) for i in indices})
        _reinitialise(self.visual_adapter)
        if shared:
            self.shared_adapter = nn.ModuleDict({str(i): _shared_projection(bottleneck) for i in indices})
            _reinitialise(self.shared_adapter)
        else:
            self.shared_adapter = None

    def _branches(self, adapters: nn.ModuleDict) -> Dict[int, AdapterBranch]:
        return {
            int(key): AdapterBranch(
                adapter,
                self.shared_adapter[key] if self.shared_adapter is not None else None,
                self.scale,
                gradient_scaled=int(key) > 0,
            )
            for key, adapter in adapters.items()
        }

    def text_branches(self) -> Dict[int, AdapterBranch]:
        """Side branches for ``CLIP.encode_text(..., branches=...)``."""
        return self._branches(self.text_adapter)

    def visual_branches(self) -> Dict[int, AdapterBranch]:
        """Side branches for ``CLIP.encode_image(..., branches=...)``."""
        return self._branches(self.visual_adapter)


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.MMADAPTER``, defaulting to the shipped vit_b16_ep5.yaml (the paper's model).

    The reference train.py defaults differ (START 4, SCALE 0.1, empty prompt); docs/MMA.md explains.
    """
    node = CfgNode()
    node.TEXT_CTX_INIT = "a photo of a"
    node.ADAPTER_START = 5
    node.ADAPTER_END = 12
    node.ADAPTER_DIM = 32
    node.ADAPTER_SCALE = 0.001
    node.SHARED_ADAPTER = True
    node.PREC = "amp"
    add_speed_keys(node)  # TEXT_TRUNCATE, TEXT_PREFIX_CACHE, EVAL_PREC, COMPILE, COMPILE_BACKEND
    cfg.TRAINER.MMADAPTER = node


def build_prompts(text_ctx_init: str, classnames: List[str]) -> List[str]:
    """The fixed prompts "<TEXT_CTX_INIT> <classname>." with underscores in names read as spaces."""
    return [f"{text_ctx_init} {name.replace('_', ' ')}." for name in classnames]


def check_adapter_hparams(cfg: CfgNode, text_depth: int, visual_depth: int) -> None:
    """Reject layer ranges, sizes and scales that cannot build, naming the key and the fix."""
    mcfg = cfg.TRAINER.MMADAPTER
    start, end = mcfg.ADAPTER_START, mcfg.ADAPTER_END
    if start < 0:
        raise ConfigValueError(f"{CONFIG_NODE}.ADAPTER_START is {start}; layer indices start at 0 (the embedding level).")
    if start > end:
        raise ConfigValueError(
            f"{CONFIG_NODE}.ADAPTER_START ({start}) is greater than ADAPTER_END ({end}); "
            "adapters go on layers START..END inclusive, so set START <= END."
        )
    for tower, depth in (("text", text_depth), ("image", visual_depth)):
        if end > depth:
            raise ConfigValueError(
                f"{CONFIG_NODE}.ADAPTER_END is {end}, but the {tower} transformer of backbone "
                f"{cfg.MODEL.BACKBONE.NAME!r} has only {depth} blocks (numbered 1..{depth}); "
                f"set ADAPTER_END <= {min(text_depth, visual_depth)}."
            )
    if mcfg.ADAPTER_DIM < 1:
        raise ConfigValueError(f"{CONFIG_NODE}.ADAPTER_DIM is {mcfg.ADAPTER_DIM}; it must be a positive integer.")
    if not mcfg.ADAPTER_SCALE > 0:
        raise ConfigValueError(
            f"{CONFIG_NODE}.ADAPTER_SCALE is {mcfg.ADAPTER_SCALE}; it must be positive "
            "(the gradient-scale layer divides by it)."
        )


class AdapterLearner(MultiModalAdapters):
    """MMA's trainable part (the adapters) plus the frozen, class-derived prompt buffers.

    The buffers are not persistent: checkpoints hold only adapter parameters, and a reference
    checkpoint that carries them loads all the same.
    """

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        mcfg = cfg.TRAINER.MMADAPTER
        visual = require_vit(cfg, clip_model, "MultiModalAdapter")
        check_adapter_hparams(cfg, clip_model.transformer.layers, visual.transformer.layers)
        super().__init__(
            text_width=clip_model.transformer.width,
            visual_width=visual.transformer.width,
            start=mcfg.ADAPTER_START,
            end=mcfg.ADAPTER_END,
            bottleneck=mcfg.ADAPTER_DIM,
            scale=mcfg.ADAPTER_SCALE,
            shared=mcfg.SHARED_ADAPTER,
        )
        self.hparams_text = (
            f"ADAPTER_START {mcfg.ADAPTER_START}, ADAPTER_END {mcfg.ADAPTER_END}, "
            f"ADAPTER_DIM {mcfg.ADAPTER_DIM}, SHARED_ADAPTER {mcfg.SHARED_ADAPTER}"
        )
        prompts = build_prompts(mcfg.TEXT_CTX_INIT, classnames)
        device = clip_model.token_embedding.weight.device
        with torch.device("cpu"):  # token ids are data, even when the model is built elsewhere
            tokenized = clip.tokenize(prompts)
        self.prompt_length = used_context_length(tokenized)
        tokenized = tokenized.to(device)
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokenized).to(clip_model.dtype)
        self.register_buffer("token_embedding", embedding, persistent=False)
        self.register_buffer("tokenized_prompts", tokenized, persistent=False)
        self.to(clip_model.dtype)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        for name in DERIVED_BUFFERS:
            state_dict.pop(prefix + name, None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def load_adapter_state_dict(self, state_dict: Mapping[str, Tensor], source: str) -> None:
        """Load every adapter parameter strictly, or raise naming each missing, unexpected or
        mis-shaped key; the class-derived buffers of reference checkpoints are ignored."""
        given = {k: v for k, v in state_dict.items() if k not in DERIVED_BUFFERS}
        problems = key_mismatches(self.state_dict(), given)
        if problems:
            raise CheckpointMismatchError(
                f"The adapters in {source} do not fit this model ({CONFIG_NODE} {self.hparams_text}): "
                + "; ".join(problems)
                + ". Use the TRAINER.MMADAPTER settings the checkpoint was trained with."
            )
        self.load_state_dict(given)


class CustomCLIP(BranchedCLIP):
    """Frozen CLIP plus MMA's adapters: cosine logits of images against the class prompts, with the
    kit's speed switches (TRAINER.MMADAPTER.TEXT_TRUNCATE, ...; docs/SPEED.md). In eval mode the
    adapted text features are computed once and reused until an adapter tensor changes."""

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        learner = AdapterLearner(cfg, classnames, clip_model)
        super().__init__(clip_model, LEARNER_NAME, learner, speed=cfg.TRAINER.MMADAPTER)


def build_custom_clip(cfg: CfgNode, classnames: List[str], precision: str) -> CustomCLIP:
    """Load the backbone for ``precision`` on the CPU (or take the one shared by a
    ``shared_backbones()`` block) and wrap it with MMA's adapters."""
    clip_model = backbone_for(cfg, precision)
    check_input_size(cfg, clip_model)
    return CustomCLIP(cfg, classnames, clip_model)


@TRAINER_REGISTRY.register()
class MultiModalAdapter(LearnerTrainer):
    """Trains the adapters with cross-entropy; amp (CUDA) uses autocast and a GradScaler."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.MMADAPTER.PREC, f"{CONFIG_NODE}.PREC")
        check_speed_keys(cfg.TRAINER.MMADAPTER, CONFIG_NODE)

    def build_model(self) -> None:
        cfg, mcfg = self.cfg, self.cfg.TRAINER.MMADAPTER
        check_speed_keys(mcfg, CONFIG_NODE, self.device)
        self.precision = effective_precision(mcfg.PREC, self.device)
        note = "" if self.precision == mcfg.PREC else f" (PREC {mcfg.PREC} runs as {self.precision} on {self.device.type})"
        print(f"Loading CLIP (backbone: {backbone_label(cfg)}, precision: {self.precision}{note})")
        self.model = build_custom_clip(cfg, self.dm.dataset.classnames, self.precision)
        learner = self.model.adapter_learner
        print(f"Trainable parameters: {sum(p.numel() for p in learner.parameters()):,}")
        self.register_learner(LEARNER_NAME, learner)
        if mcfg.COMPILE:
            print(f"Compiling the encoders (torch.compile mode {mcfg.COMPILE!r}, backend {mcfg.COMPILE_BACKEND!r})")
            self.model.compile_encoders(mcfg.COMPILE, mcfg.COMPILE_BACKEND)

    def model_inference(self, input: Tensor) -> Tensor:
        """The logits, in fp32; under autocast when TRAINER.MMADAPTER.EVAL_PREC is bf16 or fp16."""
        with self.model.inference_autocast(self.device):
            return self.model(input).float()

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/adapter_learner/model.pth.tar-<epoch>`` (or model-best.pth.tar)."""
        for learner, state_dict, path in learner_checkpoints(self, directory, epoch):
            learner.load_adapter_state_dict(state_dict, source=path)
