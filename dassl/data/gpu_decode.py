"""Evaluation images decoded and resized on the GPU (DATALOADER.TEST.GPU_DECODE; docs/SPEED.md).

The loader's workers only read the file bytes; each batch is decoded by nvJPEG
(``torchvision.io.decode_jpeg(..., device="cuda")``), resized (shorter side, bicubic, antialiased),
centre-cropped and normalised on the device. The pixels differ slightly from PIL's decoder and
resampler, so accuracies can move by a few test images: an opt-in speed switch, off by default.
Files that are not JPEG are decoded on the CPU by torchvision and then follow the same path.
"""
import warnings
from typing import Any, Dict, Iterator, List, Sequence

import torch
import torchvision
import torchvision.transforms.v2.functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file

from dassl.utils.errors import ConfigValueError

from .datasets.base_dataset import Datum
from .transforms import INTERPOLATION_MODES, layers_changing_test_images

JPEG_MAGIC = (0xFF, 0xD8)
# decode_jpeg takes a list (one batched nvJPEG call) from torchvision 0.19; older ones, one image a call.
BATCHED_DECODE = tuple(int(part) for part in torchvision.__version__.split(".")[:2]) >= (0, 19)


def check_gpu_decode(cfg: Any, device: torch.device) -> None:
    """GPU decoding needs CUDA and the standard test pipeline; say which setting to change."""
    if torch.device(device).type != "cuda":
        raise ConfigValueError(
            "DATALOADER.TEST.GPU_DECODE is set, but this run has no CUDA device (CUDA unavailable or "
            "USE_CUDA False). Set DATALOADER.TEST.GPU_DECODE False (or DATALOADER.TEST.CACHE_DECODED True "
            "to decode the test images once on the CPU)."
        )
    layers = layers_changing_test_images(cfg)
    if "instance_norm" in cfg.INPUT.TRANSFORMS or layers or cfg.INPUT.NO_TRANSFORM:
        changed_by = f" or changes of the test images by {', '.join(layers)}" if layers else ""
        raise ConfigValueError(
            "DATALOADER.TEST.GPU_DECODE reproduces only the standard test pipeline (resize, centre crop, "
            f"normalize); this config also asks for instance_norm, NO_TRANSFORM{changed_by}. "
            "Set DATALOADER.TEST.GPU_DECODE False."
        )


class EncodedImages(Dataset):
    """The file bytes (a 1-D uint8 tensor) of each image, with the wrapper's other fields."""

    def __init__(self, data_source: List[Datum]) -> None:
        self.data_source = data_source

    def __len__(self) -> int:
        return len(self.data_source)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        item = self.data_source[idx]
        return {"encoded": read_file(item.impath), "label": item.label, "domain": item.domain,
                "impath": item.impath, "index": idx}


def collate_encoded(samples: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Batch the fields as the default collate does, but keep the variable-length bytes as a list."""
    encoded = [sample["encoded"] for sample in samples]
    batch = default_collate([{k: v for k, v in sample.items() if k != "encoded"} for sample in samples])
    batch["encoded"] = encoded
    return batch


class BatchDecoder:
    """Decode, resize the shorter side to max(SIZE), centre-crop SIZE and normalise, on ``device``."""

    def __init__(self, cfg: Any, device: torch.device) -> None:
        self.device = torch.device(device)
        self.resize = max(cfg.INPUT.SIZE)
        self.crop = list(cfg.INPUT.SIZE)
        self.interpolation = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
        self.normalize = "normalize" in cfg.INPUT.TRANSFORMS
        self.mean = torch.tensor(cfg.INPUT.PIXEL_MEAN, device=self.device).view(3, 1, 1)
        self.std = torch.tensor(cfg.INPUT.PIXEL_STD, device=self.device).view(3, 1, 1)

    def decode(self, encoded: List[torch.Tensor]) -> List[torch.Tensor]:
        """uint8 [3, H, W] images on the device; JPEGs in one batched call, others one by one."""
        is_jpeg = [tuple(data[:2].tolist()) == JPEG_MAGIC for data in encoded]
        images: List[torch.Tensor] = [None] * len(encoded)  # type: ignore[list-item]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 points to TorchCodec
            jpeg_index = [i for i, flag in enumerate(is_jpeg) if flag]
            if jpeg_index:
                jpegs = [encoded[i] for i in jpeg_index]
                if BATCHED_DECODE:
                    decoded = decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=self.device)
                else:
                    decoded = [decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device) for data in jpegs]
                for i, image in zip(jpeg_index, decoded):
                    images[i] = image
            for i, flag in enumerate(is_jpeg):
                if not flag:
                    images[i] = decode_image(encoded[i], mode=ImageReadMode.RGB).to(self.device)
        return images

    def __call__(self, encoded: List[torch.Tensor]) -> torch.Tensor:
        batch = []
        for image in self.decode(encoded):
            image = F.resize(image, [self.resize], interpolation=self.interpolation, antialias=True)
            batch.append(F.center_crop(image, self.crop))
        images = torch.stack(batch).float().div_(255)
        if self.normalize:
            images = images.sub_(self.mean).div_(self.std)
        return images


class DecodingLoader:
    """Iterates a loader of :class:`EncodedImages` and puts the decoded batch under ``img``; has the
    ``dataset`` and ``len`` an evaluation loop reads."""

    def __init__(self, loader: DataLoader, decoder: BatchDecoder) -> None:
        self.loader = loader
        self.decoder = decoder
        self.dataset = loader.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        for batch in self.loader:
            batch["img"] = self.decoder(batch.pop("encoded"))
            yield batch
