"""Index samplers for the data loaders: the torch Random/Sequential samplers the family configs
name, and their splits across the processes of one torchrun run."""
import math
from typing import Any, Iterator, List, Optional, Sized, Tuple

import torch
import torch.distributed as dist
from torch.utils.data import RandomSampler, Sampler, SequentialSampler

from dassl.utils.errors import ConfigValueError, FrameworkError

AVAILABLE_SAMPLERS = ("RandomSampler", "SequentialSampler")


class DistributedSetupError(FrameworkError, ValueError):
    """A setting that cannot be split across the processes of one run."""


def build_sampler(
    sampler_type: str,
    cfg: Optional[Any] = None,
    data_source: Optional[Sized] = None,
    batch_size: int = 32,
    n_domain: int = 0,
    n_ins: int = 2,
) -> Sampler:
    """A sampler over ``data_source``.

    RandomSampler draws its order from the global torch RNG when the loader is iterated, so the
    RNG states saved in the resumable checkpoint reproduce the order of later epochs.
    """
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    if sampler_type == "SequentialSampler":
        return SequentialSampler(data_source)
    raise ConfigValueError(
        f'Unknown sampler type "{sampler_type}"; this package provides {", ".join(AVAILABLE_SAMPLERS)} '
        "(set DATALOADER.TRAIN_X.SAMPLER / DATALOADER.TEST.SAMPLER to one of them)"
    )


def _world() -> Tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class BatchSplitSampler(Sampler):
    """Rank ``rank``'s 1/``world`` of every batch of ``global_batch`` a single process would draw.

    The order is RandomSampler's (one int64 drawn from the global torch RNG seeds a randperm), with
    rank 0's draw sent to every rank so all ranks split the same order; a last incomplete batch is
    dropped, as the training loader does. Concatenating the ranks' parts of step k gives the single
    process's batch k.
    """

    def __init__(self, size: int, shuffle: bool, global_batch: int, world: int, rank: int) -> None:
        self.size, self.shuffle, self.global_batch = size, shuffle, global_batch
        self.world, self.rank = world, rank
        self.share = global_batch // world

    def _order(self) -> List[int]:
        if not self.shuffle:
            return list(range(self.size))
        seed = [int(torch.empty((), dtype=torch.int64).random_().item())]
        if self.world > 1 and dist.is_available() and dist.is_initialized():
            dist.broadcast_object_list(seed, src=0)
        generator = torch.Generator()
        generator.manual_seed(seed[0])
        return torch.randperm(self.size, generator=generator).tolist()

    def __iter__(self) -> Iterator[int]:
        order = self._order()
        for start in range(0, self.size - self.global_batch + 1, self.global_batch):
            first = start + self.rank * self.share
            yield from order[first:first + self.share]

    def __len__(self) -> int:
        return (self.size // self.global_batch) * self.share


class ShardSampler(Sampler):
    """The ``rank``-th of ``world`` contiguous shards of an evaluation set, in order, without padding:
    gathered in rank order, the shards are the whole set once."""

    def __init__(self, size: int, world: int, rank: int) -> None:
        per_rank = math.ceil(size / world)
        self.indices = range(min(size, rank * per_rank), min(size, (rank + 1) * per_rank))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def split_for_processes(sampler_type: str, size: int, batch_size: int, is_train: bool) -> Optional[Tuple[Sampler, int]]:
    """Under torchrun, this process's sampler and per-process batch size; None for one process.

    Training keeps DATALOADER.TRAIN_X.BATCH_SIZE as the global batch (each process loads 1/N of it);
    evaluation gives each process one shard of the set."""
    world, rank = _world()
    if world == 1:
        return None
    if not is_train:
        return ShardSampler(size, world, rank), batch_size
    if batch_size % world:
        raise DistributedSetupError(
            f"the training batch size {batch_size} does not split over {world} processes; use a multiple of {world} "
            "(DATALOADER.TRAIN_X.BATCH_SIZE is the global batch, each process takes 1/N of it)")
    if size < batch_size:
        raise DistributedSetupError(
            f"the training set ({size} images) is smaller than one batch ({batch_size}); run it as one process")
    if sampler_type not in AVAILABLE_SAMPLERS:
        build_sampler(sampler_type)  # raises the error naming the choices
    return BatchSplitSampler(size, sampler_type == "RandomSampler", batch_size, world, rank), batch_size // world
