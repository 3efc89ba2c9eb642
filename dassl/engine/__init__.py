"""Trainers: the registry, ``build_trainer`` and the TrainerBase/SimpleTrainer/TrainerX life cycle."""
from . import distributed
from .build import TRAINER_REGISTRY, build_trainer
from .trainer import SimpleTrainer, TrainerBase, TrainerX

__all__ = ["TRAINER_REGISTRY", "distributed", "SimpleTrainer", "TrainerBase", "TrainerX", "build_trainer"]
