"""Checks of the torch.compile switch (docs/SPEED.md) made when the model is built.

Without them a wrong mode or backend, or inductor on a CPU machine without a C++ compiler, fails at
the first training step, deep inside torch, after the data and the model have been loaded.
"""
from __future__ import annotations

import shutil
from typing import List

import torch

from dassl.utils.errors import ConfigValueError


def _modes() -> List[str]:
    import torch._inductor

    return ["default", *(mode for mode in torch._inductor.list_mode_options() if mode != "default")]


def _cpu_compilers() -> List[str]:
    """The C++ compilers inductor tries for CPU code ($CXX or g++, clang++ on macOS)."""
    import torch._inductor.config

    candidates = torch._inductor.config.cpp.cxx
    if isinstance(candidates, str):
        candidates = (candidates,)
    return [name for name in candidates if name]


def check_compile(mode: str, backend: str, device: torch.device, node: str) -> None:
    """Reject an unknown mode or backend, and inductor on the CPU with no C++ compiler on PATH."""
    modes = _modes()
    if mode not in modes:
        raise ConfigValueError(f"{node}.COMPILE is {mode!r}; use '' (off) or a torch.compile mode: {', '.join(modes)}.")
    import torch._dynamo

    backends = torch._dynamo.list_backends(exclude_tags=())
    if backend not in backends:
        raise ConfigValueError(
            f"{node}.COMPILE_BACKEND is {backend!r}; torch knows {', '.join(backends)} "
            "(inductor generates code; eager and aot_eager only trace)."
        )
    if backend == "inductor" and torch.device(device).type == "cpu":
        compilers = _cpu_compilers()
        if not any(shutil.which(name.split()[0]) for name in compilers):
            raise ConfigValueError(
                f"{node}.COMPILE with the inductor backend generates C++ on the CPU, but no compiler "
                f"({' or '.join(compilers)}) is on PATH. Install one (e.g. apt install g++) or set CXX, "
                f"or set {node}.COMPILE '' to run eagerly."
            )
