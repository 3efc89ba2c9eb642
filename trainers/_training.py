"""One optimisation step of a CLIP-based trainer in its precision: plain (fp16 / fp32) or amp.

fp16 and fp32 go through the engine's ``model_backward_and_update`` (which also stops on a NaN loss);
amp (CUDA only, see ``_clip_utils.effective_precision``) runs the forward under autocast and scales
the loss with a GradScaler, as the CoOp-family trainers do.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
from torch import Tensor


def make_grad_scaler(precision: str) -> Optional[torch.amp.GradScaler]:
    """A GradScaler for amp, None otherwise."""
    return torch.amp.GradScaler("cuda") if precision == "amp" else None


def optimisation_step(trainer, compute: Callable[[], Tuple[Tensor, Optional[Tensor]]]) -> Tuple[Tensor, Optional[Tensor]]:
    """Run ``compute() -> (loss, output)`` and update the trainer's registered models with the loss."""
    scaler = trainer.scaler
    if scaler is None:
        loss, output = compute()
        trainer.model_backward_and_update(loss)
        return loss, output
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        loss, output = compute()
    trainer.model_zero_grad()
    scaler.scale(loss).backward()
    for name in trainer.get_model_names():
        if trainer._optims[name] is not None:
            scaler.step(trainer._optims[name])
    scaler.update()
    return loss, output
