"""Configs and runs of the attention adapter's trainer on fake data with the golden tiny CLIP."""
import contextlib
import io
from pathlib import Path
from typing import Sequence

import train
from dassl.config import get_cfg_default
from dassl.engine import build_trainer
from dassl.utils import set_random_seed

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "trainers" / "AttentionMultiModalAdapter"
DATASET_CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "datasets"


def attnmma_cfg(data_root: Path, output_dir: Path, clip_checkpoint: Path, config: str = "vit_b16_reference",
                dataset: str = "eurosat", opts: Sequence[str] = ()):
    """A shipped config on the tiny CLIP (32x32 inputs), 2 shots of the base classes, CPU, no workers."""
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    cfg.merge_from_file(str(DATASET_CONFIG_DIR / f"{dataset}.yaml"))
    cfg.merge_from_file(str(CONFIG_DIR / f"{config}.yaml"))
    cfg.merge_from_list([
        "TRAINER.NAME", "AttentionMultiModalAdapter",
        "DATASET.ROOT", str(data_root),
        "DATASET.NUM_SHOTS", "2",
        "DATASET.SUBSAMPLE_CLASSES", "base",
        "OUTPUT_DIR", str(output_dir),
        "MODEL.BACKBONE.NAME", str(clip_checkpoint),
        "INPUT.SIZE", "(32, 32)",
        "DATALOADER.NUM_WORKERS", "0",
        "DATALOADER.TEST.BATCH_SIZE", "8",
        "OPTIM.MAX_EPOCH", "3",
        "SEED", "1",
        "USE_CUDA", "False",
        *opts,
    ])
    cfg.freeze()
    return cfg


def build_quietly(cfg):
    """The trainer of ``cfg`` (seeded as train.py does), with its build messages captured."""
    set_random_seed(cfg.SEED)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        trainer = build_trainer(cfg)
    return trainer, printed.getvalue()


def run_quietly(fn, *args, **kwargs):
    """Call ``fn`` and return (its result, what it printed)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = fn(*args, **kwargs)
    return result, printed.getvalue()
