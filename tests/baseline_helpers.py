"""Shared pieces of the baseline tests (zero-shot CLIP, CoOp, CoCoOp, CLIP-Adapter, linear probe)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import torch
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


def make_cfg(node: str = "", values: Dict = None, dataset: str = "Caltech101"):
    """Defaults + every project node (train.extend_cfg), with TRAINER.<node> values set."""
    from train import extend_cfg

    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.DATASET.NAME = dataset
    for key, value in (values or {}).items():
        setattr(getattr(cfg.TRAINER, node), key, value)
    return cfg


def run_train(repo_root: Path, args: Sequence[str]) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` on the CPU, failing the test with its output if it fails."""
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "train.py", *args], cwd=repo_root, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def tiny_run_opts(checkpoint: Path, extra: List[str] = ()) -> List[str]:
    """Overrides that make a run tiny and CPU-only: the tiny CLIP, 32px input, no workers, 1 epoch."""
    return [
        "MODEL.BACKBONE.NAME", str(checkpoint), "INPUT.SIZE", "(32, 32)", "USE_CUDA", "False",
        "DATALOADER.NUM_WORKERS", "0", "OPTIM.MAX_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "4",
        "DATALOADER.TEST.BATCH_SIZE", "8", *extra,
    ]


def seeded(seed: int = 0) -> None:
    torch.manual_seed(seed)
