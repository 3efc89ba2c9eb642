"""Utilities re-exported at the package root, as trainers and datasets import them."""
from .logger import Logger, setup_logger
from .meters import AverageMeter, MetricMeter
from .registry import Registry
from .tools import (
    atomic_path,
    check_availability,
    check_isfile,
    collect_env_info,
    get_most_similar_str_to_a_from_b,
    listdir_nohidden,
    mkdir_if_missing,
    read_image,
    read_json,
    set_random_seed,
    tolist_if_not,
    write_json,
)
from .torchtools import (
    load_checkpoint,
    load_pretrained_weights,
    resume_from_checkpoint,
    save_checkpoint,
    save_torch_atomically,
)

__all__ = [
    "AverageMeter",
    "Logger",
    "MetricMeter",
    "Registry",
    "atomic_path",
    "check_availability",
    "check_isfile",
    "collect_env_info",
    "get_most_similar_str_to_a_from_b",
    "listdir_nohidden",
    "load_checkpoint",
    "load_pretrained_weights",
    "mkdir_if_missing",
    "read_image",
    "read_json",
    "resume_from_checkpoint",
    "save_checkpoint",
    "save_torch_atomically",
    "set_random_seed",
    "setup_logger",
    "tolist_if_not",
    "write_json",
]
