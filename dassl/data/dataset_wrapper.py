"""Turns a list of Datum into the dict samples (img, label, domain, impath, index) the trainers expect."""
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
import torchvision.transforms as T
from torch.utils.data import Dataset

from dassl.utils import read_image
from dassl.utils.errors import ConfigValueError

from .datasets.base_dataset import Datum
from .decoded_images import DecodedImages
from .transforms import INTERPOLATION_MODES

Transform = Callable[[Any], Any]


class DatasetWrapper(Dataset):
    """Reads each image (errors name the file) and applies one or several transforms.

    With ``decoded`` (DATALOADER.CACHE_DECODED), images come from that in-memory store instead of
    the files; :meth:`prepare` fills it before a pass over the data.
    """

    def __init__(
        self,
        cfg: Any,
        data_source: List[Datum],
        transform: Optional[Union[Transform, Sequence[Transform]]] = None,
        is_train: bool = False,
        decoded: Optional[DecodedImages] = None,
    ) -> None:
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform
        self.is_train = is_train
        self.decoded = decoded
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        if self.k_tfm > 1 and transform is None:
            raise ConfigValueError(
                f"Cannot augment the image {self.k_tfm} times because transform is None "
                "(set DATALOADER.K_TRANSFORMS 1 or give a transform)"
            )
        steps = [T.Resize(cfg.INPUT.SIZE, interpolation=INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]), T.ToTensor()]
        if "normalize" in cfg.INPUT.TRANSFORMS:
            steps.append(T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
        self.to_tensor = T.Compose(steps)

    def __len__(self) -> int:
        return len(self.data_source)

    def prepare(self) -> None:
        """Decode every image into the store (in the main process, so forked workers share it)."""
        if self.decoded is not None:
            self.decoded.add((item.impath for item in self.data_source), "training" if self.is_train else "evaluation")

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        item = self.data_source[idx]
        output: Dict[str, Any] = {
            "label": item.label,
            "domain": item.domain,
            "impath": item.impath,
            "index": idx,
        }
        img0 = read_image(item.impath) if self.decoded is None else self.decoded.image(item.impath)
        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                key = "img" if i == 0 else f"img{i + 1}"
                output[key] = self._transform_image(tfm, img0)
        else:
            output["img"] = self._transform_image(self.transform, img0)
        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _transform_image(self, tfm: Transform, img0: Any) -> Union[torch.Tensor, List[torch.Tensor]]:
        images = [tfm(img0) for _ in range(self.k_tfm)]
        return images[0] if len(images) == 1 else images
