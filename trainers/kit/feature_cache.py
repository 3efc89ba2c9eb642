"""Final CLIP image embeddings of a data split, encoded once and then served in batches.

A method that adapts only CLIP's final embeddings sees the frozen image encoder's output and nothing
else. With clean images and a deterministic transform that output never changes, so each split is
encoded once and every epoch trains on the stored embeddings: the frozen ViT then runs once per image
instead of once per image per epoch. Optionally the embeddings are kept on disk, keyed by everything
they depend on (backbone, precision, transform, images, labels), so that other runs reuse them.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import sys
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from tqdm import tqdm

from dassl.utils import atomic_path

# Transforms that give the same tensor for the same image every time (Dassl ignores center_crop in training).
DETERMINISTIC_TRANSFORMS = frozenset({"normalize", "instance_norm", "center_crop"})


def train_images_are_fixed(cfg) -> bool:
    """Whether every training image always reaches the encoder as the same tensor."""
    inp = cfg.INPUT
    if inp.NO_TRANSFORM or inp.IMAGE_NOISE_STD > 0:
        return False
    return inp.TRAIN_USE_TEST_TRANSFORM or set(inp.TRANSFORMS) <= DETERMINISTIC_TRANSFORMS


def test_images_are_fixed(cfg) -> bool:
    """Evaluation images are fixed unless the reference's noise leak into test is switched on."""
    return not (cfg.INPUT.IMAGE_NOISE_STD > 0 and cfg.INPUT.IMAGE_NOISE_AT_TEST)


@torch.no_grad()
def encode_split(loader: DataLoader, encode: Callable[[Tensor], Tensor], device: torch.device,
                 desc: str) -> Tuple[Tensor, Tensor]:
    """Embeddings [n, C] (float32, on CPU) and labels [n] of every image the loader yields, in order."""
    features, labels = [], []
    for batch in tqdm(loader, desc=desc, file=sys.stderr, leave=False, disable=None):
        features.append(encode(batch["img"].to(device)).float().cpu())
        labels.append(batch["label"])
    return torch.cat(features), torch.cat(labels)


class EmbeddingBatches(Dataset):
    """Indexed by a list of positions, it returns the whole batch at once (no per-item collation)."""

    def __init__(self, features: Tensor, labels: Tensor) -> None:
        self.features = features
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, indices: Sequence[int]) -> Dict[str, Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return {"feature": self.features[index], "label": self.labels[index], "index": index}


def embedding_loader(features: Tensor, labels: Tensor, batch_size: int, is_train: bool) -> DataLoader:
    """Batches of stored embeddings with the engine's sampling rules: shuffled, and the last partial
    batch dropped when the split holds at least one full batch, for training; in order for evaluation."""
    dataset = EmbeddingBatches(features, labels)
    sampler = RandomSampler(dataset) if is_train else SequentialSampler(dataset)
    drop_last = is_train and len(dataset) >= batch_size
    return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last), batch_size=None)


def _file_identity(name: str) -> str:
    """A backbone given as a file is identified by its path, size and modification time."""
    if osp.isfile(name):
        stat = os.stat(name)
        return f"{osp.abspath(name)}:{stat.st_size}:{int(stat.st_mtime)}"
    return name


class EmbeddingStore:
    """Embeddings on disk, one file per (backbone, precision, transform, image paths and labels)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @staticmethod
    def key(backbone: str, precision: str, transform: object, items: Sequence) -> str:
        digest = hashlib.sha256()
        header = {"backbone": _file_identity(backbone), "precision": precision, "transform": repr(transform)}
        digest.update(json.dumps(header, sort_keys=True).encode())
        for item in items:
            digest.update(f"{item.impath}\0{item.label}\0".encode())
        return digest.hexdigest()[:32]

    def path(self, key: str) -> str:
        return osp.join(self.directory, f"{key}.pt")

    def load(self, key: str, count: int) -> Optional[Tensor]:
        path = self.path(key)
        if not osp.isfile(path):
            return None
        try:
            features = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a truncated or foreign file is re-encoded, not fatal
            print(f"WARNING: ignoring the stored embeddings {path} ({type(err).__name__}: {err}); encoding again")
            return None
        if not isinstance(features, Tensor) or features.dim() != 2 or features.shape[0] != count:
            print(f"WARNING: ignoring the stored embeddings {path} (they do not match the split); encoding again")
            return None
        print(f"Loaded stored embeddings from {path}")
        return features

    def save(self, key: str, features: Tensor) -> None:
        path = self.path(key)
        with atomic_path(path) as tmp:
            torch.save(features, tmp)
        print(f"Stored embeddings in {path}")
