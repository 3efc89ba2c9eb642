"""A tiny separable image problem and an MMA config on the golden tiny CLIP, for MMA's trainer tests."""
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from PIL import Image

import train
from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum

COLOURS: Dict[str, tuple] = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
CLASSNAMES: List[str] = list(COLOURS)
IMAGE_SIZE = 32
MMA_CONFIG = "configs/trainers/MultiModalAdapter/vit_b16_ep5.yaml"


def write_colour_images(root: Path, split: str, per_class: int, seed: int) -> List[Path]:
    """Noisy solid-colour squares in ``root/<split>/<colour>/<k>.png``; returns the paths in class order."""
    rng = np.random.default_rng(seed)
    paths = []
    for name, rgb in COLOURS.items():
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 20, (IMAGE_SIZE, IMAGE_SIZE, 3)), 0, 255)
            path = folder / f"{k}.png"
            Image.fromarray(pixels.astype(np.uint8)).save(path)
            paths.append(path)
    return paths


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours - ref).abs().max() / ref.abs().max()).item()


def mma_cfg(hparams: dict, config_file: Path = None):
    """Defaults plus ``config_file``, with ``hparams`` set on TRAINER.MMADAPTER (a golden case's settings)."""
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    if config_file is not None:
        cfg.merge_from_file(str(config_file))
    for key, value in hparams.items():
        setattr(cfg.TRAINER.MMADAPTER, key, value)
    return cfg


def _read_split(root: Path, split: str) -> List[Datum]:
    return [
        Datum(impath=str(path), label=label, classname=name)
        for label, name in enumerate(CLASSNAMES)
        for path in sorted((root / split / name).glob("*.png"))
    ]


class MMAColourSquares(DatasetBase):
    """``DATASET.ROOT/train`` and ``DATASET.ROOT/test`` of :func:`write_colour_images`."""

    def __init__(self, cfg) -> None:
        root = Path(cfg.DATASET.ROOT)
        super().__init__(train_x=_read_split(root, "train"), test=_read_split(root, "test"))


if "MMAColourSquares" not in DATASET_REGISTRY.registered_names():
    DATASET_REGISTRY.register(MMAColourSquares)


def mma_trainer_cfg(data_root: Path, output_dir: Path, clip_checkpoint: Path, repo_root: Path, opts=()):
    """The shipped MMA config on the tiny CLIP and the colour problem, fast to train on a CPU."""
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    cfg.merge_from_file(str(repo_root / MMA_CONFIG))
    cfg.merge_from_list([
        "TRAINER.NAME", "MultiModalAdapter",
        "DATASET.NAME", "MMAColourSquares",
        "DATASET.ROOT", str(data_root),
        "OUTPUT_DIR", str(output_dir),
        "MODEL.BACKBONE.NAME", str(clip_checkpoint),
        "INPUT.SIZE", f"({IMAGE_SIZE}, {IMAGE_SIZE})",
        "INPUT.TRANSFORMS", "['normalize']",
        "DATALOADER.NUM_WORKERS", "0",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "6",
        "DATALOADER.TEST.BATCH_SIZE", "8",
        "TRAINER.MMADAPTER.ADAPTER_START", "1",
        "TRAINER.MMADAPTER.ADAPTER_END", "4",
        "TRAINER.MMADAPTER.ADAPTER_SCALE", "0.1",
        "OPTIM.LR", "0.05",
        "OPTIM.MAX_EPOCH", "4",
        "SEED", "1",
        "USE_CUDA", "False",
        *opts,
    ])
    return cfg
