"""Trainers: the registry, ``build_trainer`` and the TrainerBase/SimpleTrainer/TrainerX life cycle."""
from .build import TRAINER_REGISTRY, build_trainer
from .trainer import SimpleTrainer, TrainerBase, TrainerX

__all__ = ["TRAINER_REGISTRY", "SimpleTrainer", "TrainerBase", "TrainerX", "build_trainer"]
