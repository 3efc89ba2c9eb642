"""The trainer registry and ``build_trainer`` (TRAINER.NAME)."""
from typing import Any

from dassl.utils import Registry, check_availability

TRAINER_REGISTRY = Registry("TRAINER")


def build_trainer(cfg: Any) -> Any:
    """Instantiate the registered trainer named by ``cfg.TRAINER.NAME``."""
    check_availability(cfg.TRAINER.NAME, TRAINER_REGISTRY.registered_names())
    if cfg.VERBOSE:
        print(f"Loading trainer: {cfg.TRAINER.NAME}")
    return TRAINER_REGISTRY.get(cfg.TRAINER.NAME)(cfg)
