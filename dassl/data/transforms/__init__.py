"""Image transforms: ``build_transform`` and the interpolation names the configs use."""
from .build import AVAI_CHOICES, INTERPOLATION_MODES, build_transform

__all__ = ["AVAI_CHOICES", "INTERPOLATION_MODES", "build_transform"]
