"""Eval-mode text features, computed once and reused until the module they come from changes.

The class prompts' text features depend only on the learned tensors, not on the image, so evaluating
a batch after the first needs no text-encoder pass. Any in-place change (an optimizer step, a
checkpoint load), a move to another device or dtype, or a change of the autocast setting (evaluation
may run under autocast) invalidates the cache; in train mode nothing is cached.
"""
from __future__ import annotations

from itertools import chain
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor, nn

from .text_prefix import autocast_state, tensor_versions


class TextFeatureCache:
    def __init__(self) -> None:
        self._key: Optional[Tuple] = None
        self._features: Optional[Tensor] = None

    @staticmethod
    def _state_key(module: nn.Module) -> Tuple:
        tensors = list(chain(module.parameters(), module.buffers()))
        device_type = tensors[0].device.type if tensors else "cpu"
        return autocast_state(device_type), tensor_versions(tensors)

    def get(self, module: nn.Module, compute: Callable[[], Tensor]) -> Tensor:
        """``compute()`` in train mode; in eval mode its cached value while ``module`` is unchanged."""
        if module.training:
            self._key, self._features = None, None
            return compute()
        key = self._state_key(module)
        if self._features is None or key != self._key:
            with torch.no_grad():
                # A copy: a CUDA-graph compiled encoder reuses its output memory at the next call.
                self._features = compute().clone()
            self._key = key
        return self._features
