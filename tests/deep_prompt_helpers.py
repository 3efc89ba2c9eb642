"""Shared pieces of the MaPLe and PromptSRC tests: reference key lists, ViT-B/16 shapes, engine trainers."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Mapping, Tuple

import torch
from torch import Tensor, nn

from clip.model import CLIP, convert_weights
from tools.make_tiny_clip import VIT_B16_SIZES

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


