"""Evaluation under autocast: an opt-in speed switch (the reference evaluates in full fp32)."""
from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from dassl.utils.errors import ConfigValueError

EVAL_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_eval_precision(value: str, key: str) -> None:
    """Reject an evaluation precision other than fp32 / bf16 / fp16, naming the config key."""
    if value not in EVAL_PRECISIONS:
        raise ConfigValueError(
            f"{key} is {value!r}; it must be one of {', '.join(EVAL_PRECISIONS)} "
            "(fp32 evaluates as the reference does; bf16 and fp16 run the forward under autocast)."
        )


def inference_autocast(value: str, device: torch.device) -> ContextManager:
    """Autocast to the ``value`` dtype on ``device``'s type, or nothing for fp32."""
    dtype = EVAL_PRECISIONS[value]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
