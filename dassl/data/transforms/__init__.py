"""Image transforms: ``build_transform``, the interpolation names the configs use, and the transform
layers through which code outside the engine (e.g. a data study) changes the pipelines."""
from .build import (
    AVAI_CHOICES,
    INTERPOLATION_MODES,
    TransformLayer,
    build_transform,
    layers_changing_test_images,
    register_transform_layer,
)

__all__ = [
    "AVAI_CHOICES",
    "INTERPOLATION_MODES",
    "TransformLayer",
    "build_transform",
    "layers_changing_test_images",
    "register_transform_layer",
]
