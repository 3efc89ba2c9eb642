"""One frozen CLIP for many runs in one process (tools/run_table.py, tools/bench.py).

A script run builds CLIP afresh, and building it draws CLIP's random initialisation from torch's CPU
generator before the checkpoint overwrites it; the adapters are initialised from the generator
after that. To give the very numbers of separate runs, a reused CLIP must leave the generator where
a fresh build would: the first build from a generator state records the state it ends in, later
ones from the same state jump to it, and from a new state the draws are replayed by building (and
dropping) a CLIP of the same sizes.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict
from typing import Callable, Dict, Iterator, Optional, Tuple

import torch

from clip.model import CLIP, config_from_state_dict

from ._clip_utils import load_clip

Loader = Callable[..., CLIP]


class SharedBackbones:
    """CLIPs loaded once per (backbone name, precision), with the generator bookkeeping above."""

    def __init__(self, loader: Loader = load_clip) -> None:
        self.loader = loader
        self._models: Dict[Tuple[str, str], CLIP] = {}
        self._rng_after_build: Dict[bytes, torch.Tensor] = {}

    def get(self, cfg, precision: str) -> CLIP:
        key = (str(cfg.MODEL.BACKBONE.NAME), precision)
        before = torch.get_rng_state()
        if key not in self._models:
            self._models[key] = self.loader(cfg, precision)
        elif before.numpy().tobytes() in self._rng_after_build:
            torch.set_rng_state(self._rng_after_build[before.numpy().tobytes()])
        else:
            CLIP(**asdict(config_from_state_dict(self._models[key].state_dict())))
        self._rng_after_build[before.numpy().tobytes()] = torch.get_rng_state()
        return self._models[key]


_active: Optional[SharedBackbones] = None


def backbone_for(cfg, precision: str) -> CLIP:
    """The CLIP a trainer should wrap: loaded now, or inside :func:`shared_backbones` the block's one."""
    if _active is None:
        return load_clip(cfg, precision)
    return _active.get(cfg, precision)


@contextmanager
def shared_backbones(loader: Loader = load_clip) -> Iterator[SharedBackbones]:
    """Within this block, trainers reuse one CLIP per (name, precision), loaded by ``loader``."""
    global _active
    outer, _active = _active, SharedBackbones(loader)
    try:
        yield _active
    finally:
        _active = outer
