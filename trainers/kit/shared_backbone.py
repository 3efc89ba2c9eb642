"""One frozen CLIP for many runs in one process (tools/run_table.py, tools/bench.py).

A script run builds CLIP afresh, and building it draws CLIP's random initialisation from torch's CPU
generator before the checkpoint overwrites it; the adapters are initialised from the generator
after that. To give the very numbers of separate runs, a reused CLIP must leave the generator where
a fresh build would: the first build from a generator state records the state it ends in, later
ones from the same state jump to it, and from a new state the draws are replayed by building (and
dropping) a CLIP of the same sizes (``init_replay.InitReplay``).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict
from typing import Callable, Dict, Iterator, Optional, Tuple

import torch

from clip.model import CLIP, config_from_state_dict

from .backbone import backbone_label, load_clip
from .init_replay import InitReplay, default_replay

Loader = Callable[..., CLIP]


class SharedBackbones:
    """CLIPs loaded once per (backbone name, precision), with the generator bookkeeping above: in the
    CLIP cache's records with MODEL.BACKBONE.REPLAY_INIT, else in this object's memory."""

    def __init__(self, loader: Loader = load_clip) -> None:
        self.loader = loader
        self._models: Dict[Tuple[str, str], CLIP] = {}
        self._sizes: Dict[Tuple[str, str], dict] = {}
        self._replay = InitReplay()

    def get(self, cfg, precision: str) -> CLIP:
        key = (backbone_label(cfg), precision)
        replay = default_replay(cfg.MODEL.BACKBONE.REPLAY_INIT) or self._replay
        if key in self._models:
            replay.advance(self._sizes[key])
            return self._models[key]
        start = torch.get_rng_state()
        model = self.loader(cfg, precision)
        self._models[key] = model
        self._sizes[key] = asdict(config_from_state_dict(model.state_dict()))
        replay.record(replay.key(start, self._sizes[key]), torch.get_rng_state())
        return model


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
