"""One run on several processes (``torchrun --nproc_per_node N train.py ...``): the few hooks the
engine needs for DistributedDataParallel.

- ``init_from_environment`` joins the process group torchrun describes (WORLD_SIZE, RANK,
  LOCAL_RANK): NCCL on CUDA, gloo on the CPU; each rank uses the GPU of its LOCAL_RANK.
- The trainer's ``self.model`` is wrapped in DDP (``wrap_model``), which averages the gradients of
  the learned parameters; frozen ones (CLIP) are left alone.
- DATALOADER.TRAIN_X.BATCH_SIZE stays the global batch: each rank loads 1/N of every batch the
  single process would load (dassl.data.samplers.BatchSplitSampler).
- Evaluation splits the test set into N contiguous shards, gathers the outputs in order and scores
  them all on every rank (``EvaluationCollector``): each image is counted once.
- Only rank 0 writes: log.txt, checkpoints, resume.pth, result.json and tensorboard.
"""
from __future__ import annotations

import inspect
import os
import sys
from typing import Any, List, Optional

import torch
import torch.distributed as dist
import torch.nn as nn

from dassl.data.samplers import DistributedSetupError


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_environment(use_cuda: bool) -> None:
    """Join torchrun's process group (once); a no-op for a single process."""
    if not launched_by_torchrun() or dist.is_initialized():
        return
    cuda = use_cuda and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")


def announce() -> None:
    """Say in the run's log that it is distributed, so a log tells how its numbers were made."""
    if world_size() > 1:
        print(f"Distributed run: world size {world_size()} ({dist.get_backend()}); DATALOADER.TRAIN_X.BATCH_SIZE "
              "is the global batch, each rank loads its share of every batch")


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is True on any: a stop that reached one rank is taken by all
    at the same step (a rank stopping alone would leave the others waiting in their next all-reduce)."""
    if world_size() == 1:
        return flag
    device = cuda_device() if dist.get_backend() == "nccl" else torch.device("cpu")
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def cuda_device() -> torch.device:
    """The GPU of this rank (LOCAL_RANK), or the current one for a single process."""
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if world_size() > 1 else torch.cuda.current_device())


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel when several processes train and it has learned
    parameters; attribute access still reaches the wrapped model (``self.model.adapter_learner``)."""
    if world_size() == 1 or not any(p.requires_grad for p in model.parameters()):
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    # every rank builds the same frozen buffers; syncing them each step would only cost time
    no_buffer_sync = ({"forward_sync_buffers": False}
                      if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
                      else {"broadcast_buffers": False})
    return AttributeForwardingDDP(model, device_ids=device_ids, **no_buffer_sync)


class AttributeForwardingDDP(nn.parallel.DistributedDataParallel):
    """DDP that answers attribute look-ups it does not know with the wrapped module's."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


class EvaluationCollector:
    """Feeds the evaluator: directly in one process; with N processes, after gathering every
    shard's outputs and labels in rank order (the test set's order)."""

    def __init__(self, evaluator: Any) -> None:
        self.evaluator = evaluator
        self.outputs: List[torch.Tensor] = []
        self.labels: List[torch.Tensor] = []

    def process(self, output: torch.Tensor, label: torch.Tensor) -> None:
        if world_size() == 1:
            self.evaluator.process(output, label)
        else:
            self.outputs.append(output.detach().float().cpu())
            self.labels.append(label.detach().cpu())

    def finish(self) -> None:
        if world_size() == 1:
            return
        local = (torch.cat(self.outputs) if self.outputs else None, torch.cat(self.labels) if self.labels else None)
        shards: List[Optional[tuple]] = [None] * world_size()
        dist.all_gather_object(shards, local)
        for output, label in shards:
            if output is not None:
                self.evaluator.process(output, label)


def note_unused_gpus() -> None:
    """Say how to use the other GPUs when one process sees several (DataParallel is never used)."""
    count = torch.cuda.device_count()
    if world_size() == 1 and count > 1:
        print(f"Note: {count} GPUs are visible and this run uses one. For one run on all of them: "
              f"torchrun --standalone --nproc_per_node {count} train.py ...; for many runs at once: "
              "python tools/sweep.py (docs/SCALING.md).")


def prepare_training(trainer: Any) -> None:
    """Wrap the trainer's ``model`` in DDP before the first epoch; refuse a trainer whose learned
    modules DDP would not reach (they are not run through ``trainer.model``)."""
    if world_size() == 1:
        return
    learned = {id(p) for name in trainer.get_model_names() for p in trainer._models[name].parameters() if p.requires_grad}
    model = getattr(trainer, "model", None)
    reached = {id(p) for p in model.parameters() if p.requires_grad} if isinstance(model, nn.Module) else set()
    if not learned or not learned <= reached:
        raise DistributedSetupError(
            f"{type(trainer).__name__} cannot train on several processes: its learned modules are not all run "
            "through its `model`, so DistributedDataParallel could not average their gradients. Train it as one "
            "process (python train.py ...), or run many runs at once with tools/sweep.py.")
    trainer.model = wrap_model(model, trainer.device)


class SilencedStdout:
    """stdout of a rank other than 0: dropped, so each line is printed (and logged) once."""

    def __init__(self) -> None:
        self.original = sys.stdout
        self.sink = open(os.devnull, "w")
        sys.stdout = self.sink

    def close(self) -> None:
        sys.stdout = self.original
        self.sink.close()


def silence_stdout() -> SilencedStdout:
    return SilencedStdout()


class FolderClaimedByRankZero:
    """What a rank other than 0 holds instead of the claimed output folder: rank 0 locks, checks
    and records the run; the other ranks write nothing there."""

    def __enter__(self) -> "FolderClaimedByRankZero":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def record_split(self, dataset: Any) -> None:
        """Rank 0 records the split."""
