"""Loading a trained part (prompt learner, adapter, probe) from a checkpoint, ours or the reference's.

Buffers derived from the class names (CoOp's ``token_prefix`` / ``token_suffix``) are rebuilt from the
classes of the run, so a checkpoint's copies are ignored: that is what lets a model trained on base
classes be evaluated on new ones. Every learned tensor must be there with the right shape.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Iterable, Iterator, List, Mapping, Optional, Tuple

from torch import Tensor, nn

from dassl.utils import load_checkpoint
from dassl.utils.errors import CheckpointMismatchError, InputFileNotFoundError


def checkpoint_file(directory: str, epoch: Optional[int], name: str) -> str:
    """``<directory>/<name>/model.pth.tar-<epoch>``, or ``model-best.pth.tar`` without an epoch; a
    missing file is an error naming the path and the checkpoints that do exist."""
    folder = osp.join(directory, name)
    path = osp.join(folder, "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}")
    if osp.isfile(path):
        return path
    if osp.isdir(folder):
        found = sorted(f for f in os.listdir(folder) if f.startswith("model"))
        hint = (
            f'"{folder}" holds {", ".join(found) or "no checkpoint files"}. Pass --load-epoch N to load '
            "model.pth.tar-N (a run saves only its last epoch unless TRAIN.CHECKPOINT_FREQ is set, and "
            "model-best.pth.tar only with TEST.FINAL_MODEL best_val)."
        )
    else:
        hint = (
            f'"{folder}" does not exist: --model-dir must be the output folder of a training run '
            f"(the one holding {name}/)."
        )
    raise InputFileNotFoundError(f'No checkpoint at "{path}". {hint}')


def key_mismatches(own: Mapping[str, Tensor], given: Mapping[str, Tensor]) -> List[str]:
    """What keeps ``given`` from loading strictly into a module whose state is ``own``: the missing,
    unexpected and mis-shaped keys, one phrase per kind (empty when it fits)."""
    missing = [k for k in own if k not in given]
    unexpected = [k for k in given if k not in own]
    mis_shaped = [
        f"{k} (checkpoint {tuple(given[k].shape)}, model {tuple(own[k].shape)})"
        for k in own
        if k in given and given[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected)}")
    if mis_shaped:
        problems.append(f"shape mismatches: {', '.join(mis_shaped)}")
    return problems


def load_learned_state(module: nn.Module, state_dict: Mapping[str, Tensor], derived: Iterable[str],
                       source: str, settings: str) -> None:
    """Load ``state_dict`` into ``module``, strict about every learned tensor, ignoring ``derived``.

    A mismatch raises naming the missing, unexpected and mis-shaped keys, with ``settings`` (the
    config values that decide the shapes) as the hint for the fix.
    """
    derived = set(derived)
    own = {k: v for k, v in module.state_dict().items() if k not in derived}
    given = {k: v for k, v in state_dict.items() if k not in derived}
    problems = key_mismatches(own, given)
    if problems:
        raise CheckpointMismatchError(
            f"The checkpoint {source} does not fit this model ({settings}): " + "; ".join(problems)
            + ". Use the settings (and, for class-specific weights, the classes) it was trained with."
        )
    module.load_state_dict(given, strict=False)


def learner_checkpoints(trainer, directory: str, epoch: Optional[int]) -> Iterator[Tuple[nn.Module, Mapping[str, Tensor], str]]:
    """``(module, state_dict, path)`` of ``<directory>/<name>/model.pth.tar-<epoch>`` (or
    model-best.pth.tar) for every registered model; nothing, with a note, without a directory."""
    if not directory:
        print("Note that load_model() is skipped as no pretrained model is given")
        return
    for name in trainer.get_model_names():
        path = checkpoint_file(directory, epoch, name)
        checkpoint = load_checkpoint(path)
        print(f'Loading weights to {name} from "{path}" (epoch = {checkpoint["epoch"]})')
        yield trainer.get_model(name), checkpoint["state_dict"], path


def load_learners(trainer, directory: str, epoch: Optional[int], derived: Iterable[str], settings: str) -> None:
    """The trainers' ``load_model``: every registered model from its checkpoint in ``directory``."""
    for module, state_dict, path in learner_checkpoints(trainer, directory, epoch):
        load_learned_state(module, state_dict, derived, source=path, settings=settings)
