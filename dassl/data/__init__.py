"""Data: datasets, transforms, samplers, the dataset wrapper and the DataManager that builds the loaders."""
from .data_manager import DataManager, build_data_loader
from .dataset_wrapper import DatasetWrapper

__all__ = ["DataManager", "DatasetWrapper", "build_data_loader"]
