"""build_lr_scheduler and the warmup wrappers, written for current torch.

The wrappers save their successor as a nested state dict (not a pickled object), so their
checkpoints load with ``weights_only=True`` and, after loading, the successor still drives
the live optimizer.
"""
from typing import Any, Dict, List

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, MultiStepLR, StepLR

from dassl.utils.errors import ConfigTypeError, ConfigValueError

AVAI_SCHEDS = ["single_step", "multi_step", "cosine"]


class _BaseWarmupScheduler(LRScheduler):
    """Runs its own warmup LR for ``warmup_epoch`` steps, then hands over to ``successor``."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, successor: LRScheduler, warmup_epoch: int, last_epoch: int = -1
    ) -> None:
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        super().__init__(optimizer, last_epoch)

    def get_warmup_lr(self) -> List[float]:
        raise NotImplementedError

    def get_lr(self) -> List[float]:
        if self.last_epoch >= self.warmup_epoch:
            return self.successor.get_last_lr()
        return self.get_warmup_lr()

    def step(self, epoch: Any = None) -> None:
        if self.last_epoch >= self.warmup_epoch:
            self.successor.step(epoch)
            self._last_lr = self.successor.get_last_lr()
        else:
            super().step(epoch)

    def state_dict(self) -> Dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Accepts our nested layout and the reference Dassl's (a pickled successor object)."""
        state = dict(state_dict)
        successor_state = state.pop("successor")
        if isinstance(successor_state, LRScheduler):
            successor_state = successor_state.state_dict()
        self.__dict__.update(state)
        self.successor.load_state_dict(successor_state)


class ConstantWarmupScheduler(_BaseWarmupScheduler):
    """A constant ``cons_lr`` during warmup."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        successor: LRScheduler,
        warmup_epoch: int,
        cons_lr: float,
        last_epoch: int = -1,
    ) -> None:
        self.cons_lr = cons_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def get_warmup_lr(self) -> List[float]:
        return [self.cons_lr for _ in self.base_lrs]


class LinearWarmupScheduler(_BaseWarmupScheduler):
    """``min_lr`` at step 0, then base_lr * step / warmup_epoch."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        successor: LRScheduler,
        warmup_epoch: int,
        min_lr: float,
        last_epoch: int = -1,
    ) -> None:
        self.min_lr = min_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def get_warmup_lr(self) -> List[float]:
        if self.last_epoch == 0:
            return [self.min_lr for _ in self.base_lrs]
        return [lr * self.last_epoch / self.warmup_epoch for lr in self.base_lrs]


def build_lr_scheduler(optimizer: torch.optim.Optimizer, optim_cfg: Any) -> LRScheduler:
    """The per-epoch LR schedule of ``optim_cfg`` (stepped once at the end of each epoch)."""
    name = optim_cfg.LR_SCHEDULER
    if name not in AVAI_SCHEDS:
        raise ConfigValueError(f'OPTIM.LR_SCHEDULER must be one of {AVAI_SCHEDS}, but got "{name}"')
    stepsize = optim_cfg.STEPSIZE
    if name == "single_step":
        if isinstance(stepsize, (list, tuple)):
            stepsize = stepsize[-1]
        if not isinstance(stepsize, int):
            raise ConfigTypeError(f"For single_step, OPTIM.STEPSIZE must be an integer, but got {type(stepsize).__name__}")
        if stepsize <= 0:
            stepsize = optim_cfg.MAX_EPOCH
        scheduler: LRScheduler = StepLR(optimizer, step_size=stepsize, gamma=optim_cfg.GAMMA)
    elif name == "multi_step":
        if not isinstance(stepsize, (list, tuple)):
            raise ConfigTypeError(f"For multi_step, OPTIM.STEPSIZE must be a list, but got {type(stepsize).__name__}")
        scheduler = MultiStepLR(optimizer, milestones=list(stepsize), gamma=optim_cfg.GAMMA)
    else:
        scheduler = CosineAnnealingLR(optimizer, T_max=float(optim_cfg.MAX_EPOCH))

    if optim_cfg.WARMUP_EPOCH > 0:
        if not optim_cfg.WARMUP_RECOUNT:
            scheduler.last_epoch = optim_cfg.WARMUP_EPOCH
        if optim_cfg.WARMUP_TYPE == "constant":
            scheduler = ConstantWarmupScheduler(optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_CONS_LR)
        elif optim_cfg.WARMUP_TYPE == "linear":
            scheduler = LinearWarmupScheduler(optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_MIN_LR)
        else:
            raise ConfigValueError(f'OPTIM.WARMUP_TYPE must be "constant" or "linear", but got "{optim_cfg.WARMUP_TYPE}"')
    return scheduler
