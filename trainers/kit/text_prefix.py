"""The exact text-side savings of MMA's class-prompt pass (docs/SPEED.md).

MMA encodes every class prompt through the adapted text tower at every training step. Two facts make
most of that work removable without changing a number:

- the text attention is causal and the feature is read at the end-of-text (EOT) token, so positions
  after the last prompt's EOT never influence a feature (the per-token adapters do not mix positions):
  the context can be cut to the longest prompt;
- blocks below the first adapted one carry no branch and always see the same fixed prompts, so the
  hidden states entering the first adapted block are a constant of the frozen CLIP.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from clip.model import CLIP
from dassl.utils.errors import ConfigValueError


def used_context_length(tokenized: Tensor) -> int:
    """Positions up to and including the latest end-of-text token over the prompts.

    The EOT token has the largest id, so ``argmax`` finds it (as ``CLIP.encode_text`` does).
    """
    return int(tokenized.argmax(dim=-1).max()) + 1


# torch >= 2.4 asks autocast about any device type; before, there were CPU and GPU functions.
DEVICE_GENERIC_AUTOCAST_QUERIES = hasattr(torch, "get_autocast_dtype")


def autocast_state(device_type: str) -> Tuple[bool, Optional[torch.dtype]]:
    """Whether autocast is on for ``device_type`` and with which dtype: cached activations computed
    under one setting must not be served under another."""
    if DEVICE_GENERIC_AUTOCAST_QUERIES:
        enabled, dtype = torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)
    elif device_type == "cpu":
        enabled, dtype = torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
    else:
        enabled, dtype = torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()
    return (True, dtype) if enabled else (False, None)


def tensor_versions(tensors) -> Tuple:
    """Changes whenever one of ``tensors`` is modified in place, replaced or moved."""
    return tuple((t.data_ptr(), t._version, t.dtype) for t in tensors)


class FrozenTextPrefix:
    """The hidden states of the fixed prompts entering text block ``first_block``, computed once.

    They are recomputed only when the device, the dtype, the autocast setting, the prompt
    embeddings or a frozen CLIP tensor below ``first_block`` changes, so the cached value is always
    the one a full forward would compute at that point (in the same precision, by the same kernels).
    """

    def __init__(self, first_block: int) -> None:
        if first_block < 1:
            raise ConfigValueError(
                f"first_block is {first_block}: an adapter at the embedding level (index 0) changes the "
                "input of every block, so there is no frozen prefix to cache"
            )
        self.first_block = first_block
        self._key: Optional[Tuple] = None
        self._hidden: Optional[Tensor] = None

    def _frozen_tensors(self, clip_model: CLIP, embeddings: Tensor):
        blocks = clip_model.transformer.resblocks[: self.first_block - 1]
        return [embeddings, clip_model.positional_embedding, *blocks.parameters()]

    def __call__(self, clip_model: CLIP, tokens: Tensor, embeddings: Tensor) -> Tensor:
        """Sequence-first hidden states [L, n_prompts, width] for ``tokens`` / ``embeddings``."""
        key = (
            tuple(tokens.shape),
            autocast_state(embeddings.device.type),
            tensor_versions(self._frozen_tensors(clip_model, embeddings)),
        )
        if key != self._key:
            with torch.no_grad():
                x = clip_model.text_transformer_input(tokens, token_embeddings=embeddings)
                self._hidden = clip_model.transformer(x, last=self.first_block - 1)
            self._key = key
        return self._hidden
