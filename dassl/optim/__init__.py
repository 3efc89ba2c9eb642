"""Optimizers and learning-rate schedules built from the OPTIM config node."""
from .lr_scheduler import ConstantWarmupScheduler, LinearWarmupScheduler, build_lr_scheduler
from .optimizer import build_optimizer

__all__ = ["ConstantWarmupScheduler", "LinearWarmupScheduler", "build_lr_scheduler", "build_optimizer"]
