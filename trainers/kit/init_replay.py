"""Build CLIP without drawing its random initialisation, yet leave torch's generator where the draw would.

A CoOp-family run builds CLIP from scratch, and the build draws CLIP's random initialisation from
torch's CPU generator before the checkpoint overwrites every weight. The adapters (or prompts) are
initialised from the generator after that, so the reference's numbers depend on the generator state
the build ends in, not on the drawn weights. That state is a function of the state the build starts
from, CLIP's sizes, torch's initialisers (its version) and our model code. It is recorded the first
time (in memory and in a small file under the CLIP cache folder) and later builds from the same
state skip the draw (about 2 s for ViT-B/16) and jump to the recorded state instead.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, TypeVar

import torch
from torch import Tensor

import clip.model
from clip.model import CLIP, build_model, config_from_state_dict
from clip.weights import atomic_torch_save, cache_root
from dassl.utils.caching import disk_caches_enabled

RECORD_FOLDER = "init_rng"
T = TypeVar("T")


def _code_digest() -> str:
    """Our model code decides which initialisers run in which order: a change makes new records."""
    return hashlib.sha256(Path(clip.model.__file__).read_bytes()).hexdigest()


class InitReplay:
    """The generator state a CLIP build ends in, per (start state, sizes, torch version, model code)."""

    def __init__(self, folder: Optional[Path] = None) -> None:
        self.folder = folder
        self._memory: Dict[str, Tensor] = {}
        self._code = _code_digest()

    def key(self, start: Tensor, config: Mapping) -> str:
        digest = hashlib.sha256(start.numpy().tobytes())
        digest.update(json.dumps(dict(config, torch=torch.__version__, code=self._code), sort_keys=True).encode())
        return digest.hexdigest()

    def recorded(self, key: str) -> Optional[Tensor]:
        if key in self._memory or self.folder is None:
            return self._memory.get(key)
        try:
            state = torch.load(self.folder / f"{key}.pt", map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):  # absent or damaged: draw again
            return None
        if not isinstance(state, Tensor) or state.dtype != torch.uint8:
            return None
        self._memory[key] = state
        return state

    def record(self, key: str, state: Tensor) -> None:
        self._memory[key] = state
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(state, self.folder / f"{key}.pt")
        except OSError:  # a read-only cache only costs the next run the draw
            pass

    def _from_here(self, config: Mapping, make: Callable[[bool], T]) -> T:
        """``make(draw)``, drawing only when the end state of a build from here is not recorded;
        the generator is left at that end state either way."""
        key = self.key(torch.get_rng_state(), config)
        recorded = self.recorded(key)
        result = make(recorded is None)
        if recorded is None:
            self.record(key, torch.get_rng_state())
        else:
            torch.set_rng_state(recorded)
        return result

    def build(self, state_dict: Mapping[str, Tensor]) -> CLIP:
        """``build_model(state_dict)``, with the generator left exactly where that call leaves it."""
        config = asdict(config_from_state_dict(state_dict))
        return self._from_here(config, lambda draw: build_model(state_dict, draw_initialisation=draw))

    def advance(self, config: Mapping) -> None:
        """Move the generator as building a CLIP of sizes ``config`` would, without keeping a model."""
        self._from_here(config, lambda draw: CLIP(**config) if draw else None)


_default: Optional[InitReplay] = None


def default_replay(enabled: bool) -> Optional[InitReplay]:
    """The process's replay, recording under ``<CLIP cache>/init_rng`` (None when switched off;
    in memory only under MMA_NO_CACHE)."""
    global _default
    if not enabled:
        return None
    folder = cache_root() / RECORD_FOLDER if disk_caches_enabled() else None
    if _default is None or _default.folder != folder:
        _default = InitReplay(folder)
    return _default
