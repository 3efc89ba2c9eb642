"""Helpers every CLIP-based trainer shares: load the backbone a config names, settle its precision,
and check that the config's input size and normalisation fit the model.

The backbone is MODEL.BACKBONE.NAME (an OpenAI name such as "ViT-B/16", open_clip's model name such
as "ViT-L-14", or a checkpoint path) with MODEL.BACKBONE.PRETRAINED naming open_clip's tag (e.g.
"laion2b_s34b_b88k"; empty for OpenAI names and files). docs/CLIP.md lists what can be loaded.
"""
from __future__ import annotations

import functools
import warnings
from typing import Tuple

import torch
from torch import nn

from clip import clip
from clip.backbones import CLIP_MEAN, CLIP_STD, Backbone, UnknownBackboneError, describe
from clip.model import CLIP, VisionTransformer, build_model, convert_weights
from dassl.utils.errors import ConfigValueError

from .init_replay import default_replay

PRECISIONS = ("fp16", "fp32", "amp")


def check_precision(prec: str, key: str) -> None:
    """Reject a PREC value that is none of fp16 / fp32 / amp, naming the config key."""
    if prec not in PRECISIONS:
        raise ConfigValueError(f"{key} is {prec!r}; it must be one of {', '.join(PRECISIONS)}.")


@functools.lru_cache(maxsize=None)
def warn_fp16_on_cpu() -> None:
    """Say once per process, in one line of the run's log, that fp16 became fp32."""
    print("Warning: PREC fp16 is not supported on CPU; running in fp32 instead "
          "(set the trainer's PREC to fp32 or amp to silence this).", flush=True)


def effective_precision(prec: str, device: torch.device) -> str:
    """The precision a run will really use on ``device``.

    On CPU, ``amp`` runs in fp32 (autocast and GradScaler are CUDA features here), and ``fp16``
    falls back to fp32 with a one-line warning: half-precision CPU kernels are missing or very slow.
    """
    check_precision(prec, "PREC")
    if torch.device(device).type == "cuda":
        return prec
    if prec == "fp16":
        warn_fp16_on_cpu()
    return "fp32"


def extend_cfg(cfg) -> None:
    """MODEL.BACKBONE.PRETRAINED holds open_clip's tag (Dassl's default is a boolean)."""
    cfg.MODEL.BACKBONE.PRETRAINED = ""


def backbone_tag(cfg) -> str:
    """open_clip's pretrained tag the config names ("" for none, and for Dassl's boolean)."""
    value = getattr(cfg.MODEL.BACKBONE, "PRETRAINED", "")
    return value if isinstance(value, str) else ""


def backbone_label(cfg) -> str:
    """The backbone's identity for keys and messages: "ViT-B/16", or "ViT-L-14:laion2b_s32b_b82k"."""
    tag = backbone_tag(cfg)
    return f"{cfg.MODEL.BACKBONE.NAME}:{tag}" if tag else str(cfg.MODEL.BACKBONE.NAME)


def describe_backbone(cfg) -> Backbone:
    """What the config's backbone is (a clear error for unknown or unsupported ones), without loading it."""
    return describe(str(cfg.MODEL.BACKBONE.NAME), backbone_tag(cfg), tuple(clip.SOURCES))


def _same(values, reference) -> bool:
    return len(values) == len(reference) and all(abs(a - b) < 1e-6 for a, b in zip(values, reference))


def _is_openai_normalisation(cfg) -> bool:
    return _same(cfg.INPUT.PIXEL_MEAN, CLIP_MEAN) and _same(cfg.INPUT.PIXEL_STD, CLIP_STD)


def settle_backbone_inputs(cfg) -> None:
    """INPUT.PIXEL_MEAN / PIXEL_STD follow the backbone's normalisation (e.g. 0.5 / 0.5 for some LAION
    trainings) when they hold OpenAI's constants, which every method config carries; any other
    value is the user's choice and is kept. Call on an unfrozen config before the data is built.
    A name nothing knows is left for the loader to report, with every source it tried."""
    try:
        backbone = describe_backbone(cfg)
    except UnknownBackboneError:
        return
    if _is_openai_normalisation(cfg) and (backbone.mean, backbone.std) != (CLIP_MEAN, CLIP_STD):
        cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = list(backbone.mean), list(backbone.std)


def load_clip(cfg, precision: str) -> CLIP:
    """Load ``cfg.MODEL.BACKBONE.NAME`` (a model name such as "ViT-B/16", or a checkpoint path) on the
    CPU, in fp16 for ``precision == "fp16"`` and fp32 otherwise, as the CoOp-family trainers do.
    With MODEL.BACKBONE.REPLAY_INIT the random initialisation is skipped when its outcome for the
    generator is recorded (trainers/kit/init_replay.py)."""
    check_precision(precision, "precision")
    replay = default_replay(cfg.MODEL.BACKBONE.REPLAY_INIT)
    builder = build_model if replay is None else replay.build
    model, _ = clip.load(cfg.MODEL.BACKBONE.NAME, device="cpu", jit=False, builder=builder,
                         pretrained=backbone_tag(cfg) or None)  # fp32 on the CPU
    if precision == "fp16":
        convert_weights(model)
    return model


def check_input_size(cfg, clip_model: CLIP) -> None:
    """INPUT.SIZE must equal the image tower's resolution: CLIP's positional embedding is fixed.
    OpenAI's normalisation left on a backbone trained with another one is announced."""
    resolution = clip_model.visual.input_resolution
    size = tuple(cfg.INPUT.SIZE)
    if size != (resolution, resolution):
        raise ConfigValueError(
            f"INPUT.SIZE is {size}, but the backbone {backbone_label(cfg)!r} takes "
            f"{resolution}x{resolution} images. Set INPUT.SIZE ({resolution}, {resolution})."
        )
    backbone = describe_backbone(cfg)
    if _is_openai_normalisation(cfg) and (backbone.mean, backbone.std) != (CLIP_MEAN, CLIP_STD):
        warnings.warn(f"INPUT.PIXEL_MEAN/STD hold OpenAI's constants, but {backbone_label(cfg)} was trained with "
                      f"{list(backbone.mean)}/{list(backbone.std)}: build the config with train.setup_cfg (or call "
                      f"trainers.kit.backbone.settle_backbone_inputs) so that the data follow the backbone")


def load_backbone(cfg, prec: str, device: torch.device) -> Tuple[str, CLIP]:
    """Settle the precision ``prec`` really runs at on ``device``, load the backbone for it on the CPU
    and check INPUT.SIZE against it; returns ``(precision, clip_model)``."""
    precision = effective_precision(prec, device)
    print(f"Loading CLIP (backbone: {backbone_label(cfg)}, precision: {precision})")
    clip_model = load_clip(cfg, precision)
    check_input_size(cfg, clip_model)
    return precision, clip_model


def require_vit(cfg, clip_model: CLIP, method: str) -> VisionTransformer:
    """Methods that change the image transformer need a ViT image tower; a ResNet one is an error."""
    visual = clip_model.visual
    if not isinstance(visual, VisionTransformer):
        raise ConfigValueError(
            f"{method} needs a ViT image tower, but the backbone {backbone_label(cfg)!r} has a "
            f"{type(visual).__name__}. Use a ViT backbone (ViT-B/32, ViT-B/16, ViT-L/14)."
        )
    return visual


def freeze_except(model: nn.Module, trainable: str) -> None:
    """Switch off ``requires_grad`` for every parameter outside the submodule named ``trainable``."""
    for name, param in model.named_parameters():
        param.requires_grad_(name == trainable or name.startswith(trainable + "."))
