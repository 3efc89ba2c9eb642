"""A tiny registered dataset and trainer for the dassl engine tests (8x8 colour images, 3 classes), and
the small builders those tests share (optimizer configs, a reference Datum pickle, train.py in-process)."""
import hashlib
import os
import os.path as osp
import struct
import sys
from typing import Any, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer

import train

CLASSNAMES = ["red", "green", "blue"]
COLOURS = [(220, 30, 30), (30, 220, 30), (30, 30, 220)]
SPLIT_SIZES = {"train": 6, "val": 2, "test": 3}
MODEL_NAME = "tiny_learner"


def write_tiny_images(root: str) -> None:
    """``root/dassl_tiny/<split>/<class>/<i>.png``: noisy solid colours, so a linear model can learn them."""
    for split, per_class in SPLIT_SIZES.items():
        for label, (name, colour) in enumerate(zip(CLASSNAMES, COLOURS)):
            folder = osp.join(root, "dassl_tiny", split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(per_class):
                shade = tuple(min(255, c + 7 * i) for c in colour)
                img = Image.new("RGB", (10, 8), shade)
                img.putpixel((i % 10, i % 8), (255, 255, 255))
                img.save(osp.join(folder, f"{i}.png"))


def read_split(root: str, split: str) -> List[Datum]:
    items = []
    for label, name in enumerate(CLASSNAMES):
        folder = osp.join(root, "dassl_tiny", split, name)
        for fname in sorted(os.listdir(folder)):
            items.append(Datum(impath=osp.join(folder, fname), label=label, classname=name))
    return items


@DATASET_REGISTRY.register(force=True)
class DasslTinyDataset(DatasetBase):
    dataset_dir = "dassl_tiny"

    def __init__(self, cfg: Any) -> None:
        root = osp.abspath(osp.expanduser(cfg.DATASET.ROOT))
        train, val, test = (read_split(root, s) for s in ("train", "val", "test"))
        if cfg.DATASET.NUM_SHOTS >= 1:
            train = self.generate_fewshot_dataset(train, num_shots=cfg.DATASET.NUM_SHOTS)
            val = self.generate_fewshot_dataset(val, num_shots=min(cfg.DATASET.NUM_SHOTS, 4))
        super().__init__(train_x=train, val=val, test=test)


@TRAINER_REGISTRY.register(force=True)
class DasslTinyTrainer(TrainerX):
    """Flatten -> dropout -> linear: dropout and random crops make the RNG states matter on resume."""

    def build_model(self) -> None:
        h, w = self.cfg.INPUT.SIZE
        self.model = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(3 * h * w, self.num_classes))
        self.model.to(self.device)
        self.optim = build_optimizer(self.model, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model(MODEL_NAME, self.model, self.optim, self.sched)
        self.batches_seen = 0

    def extra_training_state(self) -> Dict[str, Any]:
        return {"batches_seen": self.batches_seen}

    def load_extra_training_state(self, state: Dict[str, Any]) -> None:
        self.batches_seen = state["batches_seen"]

    def forward_backward(self, batch: Dict[str, Any]) -> Dict[str, float]:
        image, label, _ = self.parse_batch_train(batch)
        output = self.model(image)
        loss = F.cross_entropy(output, label)
        self.model_backward_and_update(loss)
        self.batches_seen += 1
        summary = {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary


def tiny_cfg(data_root: str, output_dir: str, **overrides: Any) -> Any:
    """A frozen config for DasslTinyTrainer on DasslTinyDataset; ``overrides`` use dotted keys with '__'."""
    cfg = get_cfg_default()
    cfg.merge_from_list(
        [
            "DATASET.ROOT", data_root,
            "DATASET.NAME", "DasslTinyDataset",
            "DATASET.NUM_SHOTS", 4,
            "TRAINER.NAME", "DasslTinyTrainer",
            "OUTPUT_DIR", output_dir,
            "SEED", 1,
            "USE_CUDA", False,
            "INPUT.SIZE", (8, 8),
            "INPUT.TRANSFORMS", ("random_resized_crop", "random_flip", "normalize"),
            "DATALOADER.NUM_WORKERS", 0,
            "DATALOADER.TRAIN_X.BATCH_SIZE", 4,
            "DATALOADER.TEST.BATCH_SIZE", 5,
            "OPTIM.NAME", "sgd",
            "OPTIM.LR", 0.1,
            "OPTIM.MAX_EPOCH", 3,
            "OPTIM.LR_SCHEDULER", "cosine",
            "OPTIM.WARMUP_EPOCH", 1,
            "OPTIM.WARMUP_TYPE", "constant",
            "OPTIM.WARMUP_CONS_LR", 0.01,
            "TRAIN.PRINT_FREQ", 2,
        ]
    )
    for key, value in overrides.items():
        cfg.merge_from_list([key.replace("__", "."), value])
    cfg.freeze()
    return cfg


def optim_cfg(**values):
    cfg = get_cfg_default()
    for key, value in values.items():
        setattr(cfg.OPTIM, key, value)
    return cfg.OPTIM


MMA = dict(NAME="sgd", LR=0.0015, MAX_EPOCH=5, LR_SCHEDULER="cosine", WARMUP_EPOCH=0)
COOP = dict(NAME="sgd", LR=0.002, MAX_EPOCH=10, LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="constant",
            WARMUP_CONS_LR=1e-5)


def build(values):
    model = torch.nn.Linear(3, 2)
    optimizer = build_optimizer(model, optim_cfg(**values))
    return model, optimizer, build_lr_scheduler(optimizer, optim_cfg(**values))


def epoch_lrs(optimizer, scheduler, epochs):
    """The LR each epoch trains with; the schedule steps once at the end of an epoch."""
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def reference_datum_pickle(impath: str, label: int, classname: str) -> bytes:
    """A protocol-4 pickle of a {"train": [Datum]} cache as the reference Dassl writes it, opcode by opcode."""

    def text(s: str) -> bytes:
        raw = s.encode()
        return b"\x8c" + bytes([len(raw)]) + raw if len(raw) < 256 else b"X" + struct.pack("<I", len(raw)) + raw

    datum = (
        text("dassl.data.datasets.base_dataset") + text("Datum") + b"\x93" + b")\x81" + b"}("
        + text("_impath") + text(impath) + text("_label") + b"K" + bytes([label])
        + text("_domain") + b"K\x00" + text("_classname") + text(classname) + b"ub"
    )
    return b"\x80\x04" + b"}(" + text("train") + b"]" + b"(" + datum + b"e" + b"u."


def tiny_opts(**extra: object):
    opts = {
        "DATASET.NAME": "DasslTinyDataset", "DATASET.NUM_SHOTS": 2, "USE_CUDA": False, "INPUT.SIZE": "(8, 8)",
        "DATALOADER.NUM_WORKERS": 0, "DATALOADER.TRAIN_X.BATCH_SIZE": 3, "OPTIM.NAME": "sgd",
        "OPTIM.LR": 0.1, "OPTIM.MAX_EPOCH": 2, "OPTIM.LR_SCHEDULER": "cosine", "TRAIN.PRINT_FREQ": 5,
    }
    opts.update(extra)
    return [str(x) for kv in opts.items() for x in kv]


def run_train(root, out, *flags, seed=1, **opts):
    """train.py's main in-process with the tiny trainer; stdout is restored afterwards."""
    argv = ["--root", str(root), "--seed", str(seed), "--trainer", "DasslTinyTrainer", "--output-dir", str(out),
            *flags, *tiny_opts(**opts)]
    console = sys.stdout
    try:
        train.main(train.build_parser().parse_args(argv), command=["train.py", *argv])
    finally:
        sys.stdout = console
    return argv


def folder_digest(folder) -> dict:
    """Every file's SHA-256 under ``folder``: equal before and after means the folder is untouched."""
    digests = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = osp.join(dirpath, name)
            digests[osp.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return digests
