"""Index samplers for the data loaders (the torch Random/Sequential samplers the family configs name)."""
from typing import Any, Optional, Sized

from torch.utils.data import RandomSampler, Sampler, SequentialSampler

from dassl.utils.errors import ConfigValueError

AVAILABLE_SAMPLERS = ("RandomSampler", "SequentialSampler")


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
