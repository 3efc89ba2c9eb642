"""Helpers for the dataset tests: build a reader from a config, and cheap copies of fake datasets."""
import contextlib
import io
import shutil
from collections import Counter
from pathlib import Path
from typing import Iterable, Tuple

import datasets  # noqa: F401  (registers the readers)
from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY
from dassl.utils import set_random_seed

# (folder under ROOT, split file or None) per registry name; CoOp's DATASETS.md layout, written out independently.
FOLDERS = {
    "ImageNet": ("imagenet", None),
    "Caltech101": ("caltech-101", "split_zhou_Caltech101.json"),
    "OxfordPets": ("oxford_pets", "split_zhou_OxfordPets.json"),
    "StanfordCars": ("stanford_cars", "split_zhou_StanfordCars.json"),
    "OxfordFlowers": ("oxford_flowers", "split_zhou_OxfordFlowers.json"),
    "Food101": ("food-101", "split_zhou_Food101.json"),
    "FGVCAircraft": ("fgvc_aircraft", None),
    "SUN397": ("sun397", "split_zhou_SUN397.json"),
    "DescribableTextures": ("dtd", "split_zhou_DescribableTextures.json"),
    "EuroSAT": ("eurosat", "split_zhou_EuroSAT.json"),
    "UCF101": ("ucf101", "split_zhou_UCF101.json"),
    "ImageNetV2": ("imagenetv2", None),
    "ImageNetSketch": ("imagenet-sketch", None),
    "ImageNetA": ("imagenet-adversarial", None),
    "ImageNetR": ("imagenet-rendition", None),
}


def load(root, name: str, shots: int = -1, subsample: str = "all", seed: int = 1, output_dir=None):
    """Build dataset ``name`` as a run would (seeded first); returns (dataset, printed text)."""
    cfg = get_cfg_default()
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = name
    cfg.DATASET.NUM_SHOTS = shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = seed
    cfg.OUTPUT_DIR = str(output_dir if output_dir is not None else Path(root) / "output")
    set_random_seed(seed)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        dataset = DATASET_REGISTRY.get(name)(cfg)
    return dataset, printed.getvalue()


# Caches that other tests may already have written into the shared fake root.
GENERATED_CACHES = ("split_fewshot", "preprocessed.pkl")


def linked_copy(src_root: Path, dst_root: Path, name: str, drop: Iterable[str] = ()) -> Path:
    """A copy of one fake dataset folder whose entries are symlinks to the originals, minus ``drop``.

    Readers can write split files and caches into it without touching the shared fake root.
    """
    folder = FOLDERS[name][0]
    dst = dst_root / folder
    dst.mkdir(parents=True)
    for entry in (src_root / folder).iterdir():
        if entry.name not in set(drop) and entry.name not in GENERATED_CACHES:
            (dst / entry.name).symlink_to(entry)
    return dst


def real_copy(src_root: Path, dst_root: Path, name: str) -> Path:
    folder = FOLDERS[name][0]
    return Path(shutil.copytree(src_root / folder, dst_root / folder, ignore=shutil.ignore_patterns(*GENERATED_CACHES)))


def per_label(items) -> Counter:
    return Counter(item.label for item in items)


def impaths(items) -> Tuple[str, ...]:
    return tuple(item.impath for item in items)
