"""Shared pieces of the baseline tests (zero-shot CLIP, CoOp, CoCoOp, CLIP-Adapter, linear probe)."""
from __future__ import annotations

from typing import Dict, Optional

from torch import Tensor

from clip.model import CLIP, build_model
from dassl.config import get_cfg_default


def relative_error(ours: Tensor, reference: Tensor) -> float:
    """max|ours - reference| / max|reference|, the project's parity measure."""
    ours, reference = ours.detach().double(), reference.detach().double()
    return ((ours - reference).abs().max() / reference.abs().max()).item()


def fp32_clip(state_dict: Dict[str, Tensor]) -> CLIP:
    """The golden tiny CLIP in fp32, as the trainers use it for PREC fp32 / amp."""
    return build_model(state_dict).float()


def make_cfg(node: str = "", values: Optional[Dict] = None, dataset: str = "Caltech101"):
    """Defaults + every project node (train.extend_cfg), with TRAINER.<node> values set."""
    from train import extend_cfg

    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.DATASET.NAME = dataset
    for key, value in (values or {}).items():
        setattr(getattr(cfg.TRAINER, node), key, value)
    return cfg
