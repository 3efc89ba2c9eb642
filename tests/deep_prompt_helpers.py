"""Shared pieces of the MaPLe and PromptSRC tests: reference key lists, ViT-B/16 shapes, engine trainers."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Mapping, Tuple

import torch
from torch import Tensor, nn

from clip.model import CLIP, convert_weights
from dassl.engine import build_trainer
from tools.make_tiny_clip import VIT_B16_SIZES
from train import build_parser, setup_cfg

KeyRow = Tuple[str, str, Tuple[int, ...], bool]


def meta_vit_b16_fp16() -> CLIP:
    """CLIP ViT-B/16 as released (fp16 weights), shapes only (meta device)."""
    with torch.device("meta"):
        clip_model = CLIP(**VIT_B16_SIZES, transformer_heads=8)
    convert_weights(clip_model)
    return clip_model


def read_key_list(path: Path) -> List[KeyRow]:
    """(key, dtype, shape, trainable) rows of a reference key list; '#' lines are comments."""
    rows = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            key, dtype, shape, trainable = re.match(r"(\S+) (\S+) \((.*)\) (\S+)", line).groups()
            rows.append((key, dtype, tuple(int(s) for s in shape.split(",") if s.strip()), trainable == "True"))
    return rows


def key_rows(module: nn.Module, state_dict: Mapping[str, Tensor]) -> List[KeyRow]:
    params = dict(module.named_parameters())
    return [(k, str(v.dtype).replace("torch.", ""), tuple(v.shape), k in params and params[k].requires_grad)
            for k, v in state_dict.items()]


def engine_trainer(trainer: str, config: str, root: Path, checkpoint: Path, output: Path, *opts: str):
    """A trainer built the way train.py builds it, on the fake EuroSAT with the tiny CLIP on CPU."""
    args = build_parser().parse_args([
        "--root", str(root), "--seed", "1", "--trainer", trainer, "--output-dir", str(output),
        "--dataset-config-file", "configs/datasets/eurosat.yaml", "--config-file", f"configs/trainers/{config}",
        "MODEL.BACKBONE.NAME", str(checkpoint), "INPUT.SIZE", "(32, 32)", "USE_CUDA", "False",
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "7", *opts,
    ])
    return build_trainer(setup_cfg(args))
