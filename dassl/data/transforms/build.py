"""build_transform: the train / test image pipelines named by INPUT.TRANSFORMS.

Code outside the engine changes the pipelines only through registered transform layers
(``register_transform_layer``); the engine itself reads no key beyond Dassl's ``INPUT`` ones.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import torchvision.transforms as T
from torchvision.transforms import AutoAugmentPolicy, InterpolationMode

from dassl.utils.errors import ConfigValueError

from .custom import Cutout, GaussianNoise, InstanceNormalization, Random2DTranslation

AVAI_CHOICES = [
    "random_flip",
    "random_resized_crop",
    "normalize",
    "instance_norm",
    "random_crop",
    "random_translation",
    "center_crop",
    "cutout",
    "imagenet_policy",
    "cifar10_policy",
    "svhn_policy",
    "randaugment",
    "randaugment_fixmatch",
    "randaugment2",
    "gaussian_noise",
    "colorjitter",
    "randomgrayscale",
    "gaussian_blur",
]

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}

_POLICIES = {
    "imagenet_policy": AutoAugmentPolicy.IMAGENET,
    "cifar10_policy": AutoAugmentPolicy.CIFAR10,
    "svhn_policy": AutoAugmentPolicy.SVHN,
}


Pipeline = Callable[[bool], T.Compose]


@dataclass(frozen=True)
class TransformLayer:
    """A registered change of the pipelines: ``wrap(cfg, is_train, inner)`` returns the pipeline for
    ``is_train``, where ``inner(is_train)`` builds the one it wraps; ``changes_test_images(cfg)`` says
    whether it alters evaluation images (which GPU decoding cannot reproduce)."""

    name: str
    wrap: Callable[[Any, bool, Pipeline], T.Compose]
    changes_test_images: Callable[[Any], bool]


TRANSFORM_LAYERS: Dict[str, TransformLayer] = {}


def register_transform_layer(layer: TransformLayer) -> None:
    """Apply ``layer`` around every pipeline ``build_transform`` builds from now on (once per name)."""
    TRANSFORM_LAYERS[layer.name] = layer


def layers_changing_test_images(cfg: Any) -> List[str]:
    """The names of the registered layers that alter evaluation images under ``cfg``."""
    return [name for name, layer in TRANSFORM_LAYERS.items() if layer.changes_test_images(cfg)]


def build_transform(cfg: Any, is_train: bool = True, choices: Optional[Sequence[str]] = None) -> Optional[T.Compose]:
    """The training or test pipeline, inside the registered layers; None when INPUT.NO_TRANSFORM is set.

    Training applies the chosen steps in a fixed order whatever the list order; the test pipeline
    resizes the shorter side to max(SIZE), center-crops SIZE and converts/normalises.
    """
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    if choices is None:
        choices = cfg.INPUT.TRANSFORMS
    for choice in choices:
        if choice not in AVAI_CHOICES:
            raise ConfigValueError(f'Unknown transform "{choice}" in INPUT.TRANSFORMS; choose from {AVAI_CHOICES}')
    if cfg.INPUT.INTERPOLATION not in INTERPOLATION_MODES:
        raise ConfigValueError(
            f'Unknown INPUT.INTERPOLATION "{cfg.INPUT.INTERPOLATION}"; choose from {list(INTERPOLATION_MODES)}'
        )
    target_size = f"{cfg.INPUT.SIZE[0]}x{cfg.INPUT.SIZE[1]}"
    normalize = T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)

    def pipeline(train: bool) -> T.Compose:
        if train:
            return _build_transform_train(cfg, choices, target_size, normalize)
        return _build_transform_test(cfg, choices, target_size, normalize)

    for layer in TRANSFORM_LAYERS.values():
        pipeline = _layered(layer, cfg, pipeline)
    return pipeline(is_train)


def _layered(layer: TransformLayer, cfg: Any, inner: Pipeline) -> Pipeline:
    return lambda train: layer.wrap(cfg, train, inner)


def _build_transform_train(cfg: Any, choices: Sequence[str], target_size: str, normalize: T.Normalize) -> T.Compose:
    print("Building transform_train")
    inp = cfg.INPUT
    interp = INTERPOLATION_MODES[inp.INTERPOLATION]
    size = list(inp.SIZE)
    tfm: List[Any] = []

    if "random_crop" not in choices and "random_resized_crop" not in choices:
        print(f"+ resize to {target_size}")
        tfm.append(T.Resize(size, interpolation=interp))
    if "random_translation" in choices:
        print("+ random translation")
        tfm.append(Random2DTranslation(size[0], size[1], interpolation=interp))
    if "random_crop" in choices:
        print(f"+ random crop (padding = {inp.CROP_PADDING})")
        tfm.append(T.RandomCrop(size, padding=inp.CROP_PADDING))
    if "random_resized_crop" in choices:
        print(f"+ random resized crop (size={tuple(inp.SIZE)}, scale={tuple(inp.RRCROP_SCALE)})")
        tfm.append(T.RandomResizedCrop(size, scale=tuple(inp.RRCROP_SCALE), interpolation=interp))
    if "random_flip" in choices:
        print("+ random flip")
        tfm.append(T.RandomHorizontalFlip())
    for name, policy in _POLICIES.items():
        if name in choices:
            print(f"+ {name} (torchvision AutoAugment)")
            tfm.append(T.AutoAugment(policy, interpolation=interp))
    if "randaugment" in choices:
        print(f"+ randaugment (n={inp.RANDAUGMENT_N}, m={inp.RANDAUGMENT_M})")
        tfm.append(T.RandAugment(num_ops=inp.RANDAUGMENT_N, magnitude=inp.RANDAUGMENT_M, interpolation=interp))
    for name in ("randaugment_fixmatch", "randaugment2"):
        if name in choices:
            print(f"+ {name} (n={inp.RANDAUGMENT_N})")
            tfm.append(T.RandAugment(num_ops=inp.RANDAUGMENT_N, interpolation=interp))
    if "colorjitter" in choices:
        b, c, s, h = inp.COLORJITTER_B, inp.COLORJITTER_C, inp.COLORJITTER_S, inp.COLORJITTER_H
        print(f"+ color jitter (brightness={b}, contrast={c}, saturation={s}, hue={h})")
        tfm.append(T.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h))
    if "randomgrayscale" in choices:
        print(f"+ random gray scale (p={inp.RGS_P})")
        tfm.append(T.RandomGrayscale(p=inp.RGS_P))
    if "gaussian_blur" in choices:
        print(f"+ gaussian blur (kernel={inp.GB_K}, p={inp.GB_P})")
        tfm.append(T.RandomApply([T.GaussianBlur(inp.GB_K)], p=inp.GB_P))

    print("+ to torch tensor of range [0, 1]")
    tfm.append(T.ToTensor())
    if "cutout" in choices:
        print(f"+ cutout (n_holes={inp.CUTOUT_N}, length={inp.CUTOUT_LEN})")
        tfm.append(Cutout(inp.CUTOUT_N, inp.CUTOUT_LEN))
    if "normalize" in choices:
        print(f"+ normalization (mean={inp.PIXEL_MEAN}, std={inp.PIXEL_STD})")
        tfm.append(normalize)
    if "gaussian_noise" in choices:
        print(f"+ gaussian noise (mean={inp.GN_MEAN}, std={inp.GN_STD})")
        tfm.append(GaussianNoise(inp.GN_MEAN, inp.GN_STD))
    if "instance_norm" in choices:
        print("+ instance normalization")
        tfm.append(InstanceNormalization())
    return T.Compose(tfm)


def _build_transform_test(cfg: Any, choices: Sequence[str], target_size: str, normalize: T.Normalize) -> T.Compose:
    print("Building transform_test")
    inp = cfg.INPUT
    interp = INTERPOLATION_MODES[inp.INTERPOLATION]
    tfm: List[Any] = []
    print(f"+ resize the smaller edge to {max(inp.SIZE)}")
    tfm.append(T.Resize(max(inp.SIZE), interpolation=interp))
    print(f"+ {target_size} center crop")
    tfm.append(T.CenterCrop(list(inp.SIZE)))
    print("+ to torch tensor of range [0, 1]")
    tfm.append(T.ToTensor())
    if "normalize" in choices:
        print(f"+ normalization (mean={inp.PIXEL_MEAN}, std={inp.PIXEL_STD})")
        tfm.append(normalize)
    if "instance_norm" in choices:
        print("+ instance normalization")
        tfm.append(InstanceNormalization())
    return T.Compose(tfm)
