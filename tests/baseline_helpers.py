"""Shared pieces of the baseline tests (zero-shot CLIP, CoOp, CoCoOp, CLIP-Adapter, linear probe)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from torch import Tensor

from clip.model import CLIP, build_model
from dassl.config import get_cfg_default
from dassl.engine import build_trainer


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


def engine_trainer(trainer: str, config: str, root: Path, checkpoint: Path, output: Path, *opts: str):
    """A trainer built the way train.py builds it, on the fake EuroSAT with the tiny CLIP on CPU."""
    from train import build_parser, setup_cfg

    args = build_parser().parse_args([
        "--root", str(root), "--seed", "1", "--trainer", trainer, "--output-dir", str(output),
        "--dataset-config-file", "configs/datasets/eurosat.yaml", "--config-file", f"configs/trainers/{config}",
        "MODEL.BACKBONE.NAME", str(checkpoint), "INPUT.SIZE", "(32, 32)", "USE_CUDA", "False",
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "7", *opts,
    ])
    return build_trainer(setup_cfg(args))
