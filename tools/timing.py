"""Wall-clock timing of GPU or CPU work for the benchmark commands."""
from __future__ import annotations

import time
from typing import Callable, Union

import torch


def synchronize(device: Union[str, torch.device]) -> None:
    """Wait for queued CUDA work, so that a clock read measures it; nothing to wait for on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_calls(call: Callable[[], object], steps: int, warmup: int, device: Union[str, torch.device]) -> float:
    """Seconds per call, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        call()
    synchronize(device)
    return (time.perf_counter() - start) / steps
