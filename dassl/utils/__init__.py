"""Utilities re-exported at the package root, as trainers and datasets import them.

The names load on first use (PEP 562 ``__getattr__``), so a torch-free module of this package
(``errors``, ``result_neutral``) imports without torch: the scripts' folder-naming helper
(tools/config_tag.py) then starts in a fraction of a second.
"""
import importlib
from typing import Any, List

_SOURCES = {
    "AverageMeter": "meters",
    "Logger": "logger",
    "MetricMeter": "meters",
    "Registry": "registry",
    "atomic_path": "tools",
    "check_availability": "tools",
    "check_isfile": "tools",
    "collect_env_info": "tools",
    "get_most_similar_str_to_a_from_b": "tools",
    "listdir_nohidden": "tools",
    "load_checkpoint": "torchtools",
    "load_pretrained_weights": "torchtools",
    "mkdir_if_missing": "tools",
    "read_image": "tools",
    "read_json": "tools",
    "resume_from_checkpoint": "torchtools",
    "save_checkpoint": "torchtools",
    "save_torch_atomically": "torchtools",
    "set_random_seed": "tools",
    "setup_logger": "logger",
    "tolist_if_not": "tools",
    "write_json": "tools",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
