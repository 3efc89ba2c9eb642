"""Eval-mode text features, computed once and reused until the module they come from changes.

The class prompts' text features depend only on the learned tensors, not on the image, so evaluating
a batch after the first needs no text-encoder pass. Any in-place change (an optimizer step, a
checkpoint load) or a move to another device or dtype bumps a tensor's version or storage and
invalidates the cache; in train mode nothing is cached.
"""
from __future__ import annotations

from itertools import chain
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor, nn


class TextFeatureCache:
    def __init__(self) -> None:
        self._key: Optional[Tuple] = None
        self._features: Optional[Tensor] = None

    @staticmethod
    def _state_key(module: nn.Module) -> Tuple:
        return tuple((t.data_ptr(), t._version) for t in chain(module.parameters(), module.buffers()))

    def get(self, module: nn.Module, compute: Callable[[], Tensor]) -> Tensor:
        """``compute()`` in train mode; in eval mode its cached value while ``module`` is unchanged."""
        if module.training:
            self._key, self._features = None, None
            return compute()
        key = self._state_key(module)
        if self._features is None or key != self._key:
            with torch.no_grad():
                self._features = compute()
            self._key = key
        return self._features
