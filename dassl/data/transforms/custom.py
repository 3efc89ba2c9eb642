"""Augmentations torchvision lacks, with the behaviour the Dassl transform names stand for."""
import random
import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode


class Random2DTranslation:
    """With probability ``p``, enlarge by 1/8 and take a random (H, W) crop; otherwise just resize to (H, W)."""

    def __init__(
        self, height: int, width: int, p: float = 0.5, interpolation: InterpolationMode = InterpolationMode.BILINEAR
    ) -> None:
        self.height = height
        self.width = width
        self.p = p
        self.interpolation = interpolation

    def __call__(self, img: Image.Image) -> Image.Image:
        if random.uniform(0, 1) > self.p:
            return F.resize(img, [self.height, self.width], self.interpolation)
        new_width = int(round(self.width * 1.125))
        new_height = int(round(self.height * 1.125))
        resized = F.resize(img, [new_height, new_width], self.interpolation)
        x0 = int(round(random.uniform(0, new_width - self.width)))
        y0 = int(round(random.uniform(0, new_height - self.height)))
        return F.crop(resized, y0, x0, self.height, self.width)


class Cutout:
    """Zero ``n_holes`` squares of side ``length`` (clipped at the borders) in a [C, H, W] tensor."""

    def __init__(self, n_holes: int = 1, length: int = 16) -> None:
        self.n_holes = n_holes
        self.length = length

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[1], img.shape[2]
        mask = np.ones((h, w), np.float32)
        for _ in range(self.n_holes):
            y = np.random.randint(h)
            x = np.random.randint(w)
            y1, y2 = np.clip(y - self.length // 2, 0, h), np.clip(y + self.length // 2, 0, h)
            x1, x2 = np.clip(x - self.length // 2, 0, w), np.clip(x + self.length // 2, 0, w)
            mask[y1:y2, x1:x2] = 0.0
        return img * torch.from_numpy(mask).expand_as(img)


class GaussianNoise:
    """With probability ``p``, add N(mean, std) noise to a tensor image."""

    def __init__(self, mean: float = 0.0, std: float = 0.15, p: float = 0.5) -> None:
        self.mean = mean
        self.std = std
        self.p = p

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if random.uniform(0, 1) > self.p:
            return img
        return img + torch.randn(img.size()) * self.std + self.mean


class InstanceNormalization:
    """Standardise each channel of a [C, H, W] tensor by its own mean and std."""

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = eps

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        flat = img.reshape(img.shape[0], -1)
        mean = flat.mean(1).view(-1, 1, 1)
        std = flat.std(1).view(-1, 1, 1)
        return (img - mean) / (std + self.eps)

