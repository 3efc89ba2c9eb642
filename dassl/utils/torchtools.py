"""Saving and loading checkpoints in Dassl's file layout, with safe (weights-only) loading."""
import errno
import os.path as osp
import shutil
import warnings
from collections import OrderedDict
from typing import Any, Dict, Optional

import torch
import torch.nn as nn

from dassl.utils.errors import InputFileNotFoundError

from .errors import FrameworkError
from .safe_load import load_torch_file
from .tools import atomic_path, mkdir_if_missing


class DiskFullError(FrameworkError, OSError):
    """A checkpoint could not be written for lack of space; the previous file is untouched."""


def _tensor_bytes(obj: Any) -> int:
    """The bytes of the tensors in ``obj`` (nested dicts, lists, tuples): about a checkpoint's size."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(value) for value in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(value) for value in obj)
    return 0


def save_torch_atomically(obj: Any, fpath: str) -> None:
    """``torch.save`` through a temporary file, so a crash never leaves a truncated checkpoint.

    A full disk (which torch reports as an obscure stream error) raises ``DiskFullError``.
    """
    try:
        with atomic_path(fpath) as tmp:
            torch.save(obj, tmp)
    except (OSError, RuntimeError) as e:
        folder = osp.dirname(osp.abspath(fpath))
        needed = _tensor_bytes(obj)
        free = shutil.disk_usage(folder).free
        if getattr(e, "errno", None) not in (errno.ENOSPC, errno.EDQUOT) and free >= needed:
            raise
        previous = "The previous version of that file is unchanged. " if osp.exists(fpath) else ""
        raise DiskFullError(
            errno.ENOSPC,
            f'No space left to write "{fpath}": it needs about {needed:,} bytes and {folder} has {free:,} bytes '
            f"free. {previous}Free some space (or move OUTPUT_DIR to a larger disk) and run the same command again.",
        ) from None


def _strip_module_prefix(state_dict: Dict[str, Any]) -> "OrderedDict[str, Any]":
    return OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in state_dict.items())


def save_checkpoint(
    state: Dict[str, Any],
    save_dir: str,
    is_best: bool = False,
    remove_module_from_keys: bool = True,
    model_name: str = "",
) -> None:
    """Write ``save_dir/model.pth.tar-<epoch>`` (or ``model_name``) and point ``save_dir/checkpoint`` at it."""
    mkdir_if_missing(save_dir)
    if remove_module_from_keys:
        state["state_dict"] = _strip_module_prefix(state["state_dict"])
    fpath = osp.join(save_dir, model_name or f"model.pth.tar-{state['epoch']}")
    save_torch_atomically(state, fpath)
    print(f"Checkpoint saved to {fpath}")
    with atomic_path(osp.join(save_dir, "checkpoint")) as tmp:
        with open(tmp, "w") as f:
            f.write(f"{osp.basename(fpath)}\n")
    if is_best:
        best_fpath = osp.join(osp.dirname(fpath), "model-best.pth.tar")
        with atomic_path(best_fpath) as tmp:
            shutil.copy(fpath, tmp)
        print(f'Best checkpoint saved to "{best_fpath}"')


def load_checkpoint(fpath: Optional[str], fix: str = "") -> Dict[str, Any]:
    """Load a checkpoint without running code from it (see ``dassl.utils.safe_load``).

    Reference Dassl checkpoints, which pickle a warmup scheduler's successor and its optimizer,
    load as well; a file holding any other Python object is refused. ``fix`` is the remedy the
    error gives for a truncated file.
    """
    if fpath is None:
        raise ValueError("File path is None")
    if not osp.exists(fpath):
        raise InputFileNotFoundError(f'File is not found at "{fpath}"')
    map_location = None if torch.cuda.is_available() else "cpu"
    return load_torch_file(fpath, "checkpoint", map_location=map_location, fix=fix)


def resume_from_checkpoint(
    fdir: str, model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None, scheduler: Any = None
) -> int:
    """Load the file named in ``fdir/checkpoint`` into model/optimizer/scheduler; return its epoch."""
    with open(osp.join(fdir, "checkpoint"), "r") as f:
        fpath = osp.join(fdir, f.readline().strip("\n"))
    print(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    model.load_state_dict(checkpoint["state_dict"])
    print("Loaded model weights")
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
        print("Loaded scheduler")
    start_epoch = checkpoint["epoch"]
    print(f"Previous epoch: {start_epoch}")
    return start_epoch


def load_pretrained_weights(model: nn.Module, weight_path: str) -> None:
    """Load the entries of ``weight_path`` whose names and shapes match ``model``; report the rest."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint.get("state_dict", checkpoint)
    model_dict = model.state_dict()
    matched, discarded = OrderedDict(), []
    for k, v in _strip_module_prefix(state_dict).items():
        if k in model_dict and model_dict[k].size() == v.size():
            matched[k] = v
        else:
            discarded.append(k)
    model_dict.update(matched)
    model.load_state_dict(model_dict)
    if not matched:
        warnings.warn(f"Cannot load {weight_path} (check the key names manually)")
    else:
        print(f"Successfully loaded pretrained weights from {weight_path}")
        if discarded:
            print(f"Layers discarded due to unmatched keys or size: {discarded}")
