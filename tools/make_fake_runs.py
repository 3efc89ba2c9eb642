"""Write a FAKE output root: finished-run folders in the engine's format with made-up numbers.

    python tools/make_fake_runs.py fake_output
    python tools/report.py fake_output --html fake_report

For trying tools/report.py (and for docs/REPORTS.md) without training anything. Each run gets the
files a real run leaves: ``result.json`` and ``predictions.npz`` written by the engine's own writers,
and for training runs a ``log.txt`` with the engine's per-batch training lines. Accuracies are drawn
around made-up method levels with a fixed random seed: they mean nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dassl.config import get_cfg_default  # noqa: E402
from dassl.engine.result_file import write_result_file  # noqa: E402
from dassl.evaluation import write_predictions  # noqa: E402
from dassl.utils.errors import add_debug_flag, run_cli  # noqa: E402

FAKE_TEST_IMAGES = 200
FAKE_CLASSES = 10


def training_log(epochs: int, final_acc: float, lr: float = 2e-3, batches: int = 4) -> str:
    """The engine's training lines (TrainerX.run_epoch): loss falls, accuracy rises, cosine LR."""
    lines = []
    for epoch in range(1, epochs + 1):
        progress = epoch / epochs
        epoch_lr = lr * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / epochs))
        loss = 2.0 * (1.1 - progress)
        acc = final_acc * (0.6 + 0.4 * progress)
        for batch in range(1, batches + 1):
            lines.append(
                f"epoch [{epoch}/{epochs}] batch [{batch}/{batches}] time 0.100 (0.110) data 0.010 (0.012) "
                f"loss {loss + 0.05 * (batch % 2):.4f} ({loss:.4f}) acc {acc - batch % 2:.4f} ({acc:.4f}) "
                f"lr {epoch_lr:.4e} eta 0:00:{batches * (epochs - epoch):02d}"
            )
    return "\n".join(lines) + "\nFinish training\n"


def write_run(root: str, relative: str, accuracy: float, epochs: int = 0, images: int = FAKE_TEST_IMAGES,
              rng: Optional[np.random.Generator] = None) -> str:
    """One finished run at ``root/relative``: predictions with ~accuracy% correct, result.json, log.txt."""
    folder = os.path.join(root, relative)
    parts = relative.split("/")
    rng = rng or np.random.default_rng(abs(hash(relative)) % 2**32)
    targets = rng.integers(0, FAKE_CLASSES, size=images)
    correct = np.zeros(images, dtype=bool)
    correct[rng.permutation(images)[: int(round(accuracy / 100 * images))]] = True
    preds = np.where(correct, targets, (targets + 1) % FAKE_CLASSES)
    cfg = get_cfg_default()
    cfg.OUTPUT_DIR = folder
    cfg.TRAINER.NAME, cfg.DATASET.NAME = parts[-3], parts[-5]
    cfg.DATASET.NUM_SHOTS = int(parts[-4].split("_")[1])
    cfg.SEED = int(parts[-1][4:])
    os.makedirs(folder, exist_ok=True)
    if epochs:
        with open(os.path.join(folder, "log.txt"), "w") as handle:
            handle.write(training_log(epochs, accuracy))
    write_predictions(folder, targets.tolist(), preds.tolist())
    results = {"accuracy": 100.0 * correct.mean(), "error_rate": 100.0 - 100.0 * correct.mean(), "macro_f1": 0.0}
    write_result_file(cfg, "test", results, num_images=images)
    return folder


BASE2NEW = ("imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
            "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101")
# (trainer, base config, ImageNet config, xd config, few-shot config pattern, base level, novel level)
FAKE_METHODS = (
    ("CoOp", "vit_b16_ctxv1", "vit_b16_ep50_ctxv1", "vit_b16_ep50_ctxv1", "vit_b16", 82.0, 64.0),
    ("MultiModalAdapter", "vit_b16_ep5", "vit_b16_ep5_imnet", "vit_b16_ep1_xd", "vit_b16_fewshot_{k}shot", 83.0, 76.0),
)


def make_fake_output(root: str, seeds: Sequence[int] = (1, 2, 3), datasets: Sequence[str] = BASE2NEW) -> None:
    rng = np.random.default_rng(0)
    for trainer, cfg, imnet_cfg, xd_cfg, fewshot_cfg, base, novel in FAKE_METHODS:
        for offset, dataset in enumerate(datasets):
            level = (offset % 5) * 2.0 - 4.0
            run_cfg = imnet_cfg if dataset == "imagenet" else cfg
            for seed in seeds:
                write_run(root, f"base2new/train_base/{dataset}/shots_16/{trainer}/{run_cfg}/seed{seed}",
                          base + level + rng.normal(0, 1.0), epochs=5, rng=rng)
                write_run(root, f"base2new/test_new/{dataset}/shots_16/{trainer}/{run_cfg}/seed{seed}",
                          novel + level + rng.normal(0, 2.0), rng=rng)
        for seed in seeds:
            write_run(root, f"xd/train/imagenet/shots_16/{trainer}/{xd_cfg}/seed{seed}", 71 + rng.normal(0, .3),
                      epochs=2, rng=rng)
            for dataset in datasets[1:]:
                write_run(root, f"xd/test/{dataset}/shots_16/{trainer}/{xd_cfg}/seed{seed}",
                          novel - 10 + rng.normal(0, 2), rng=rng)
            for dataset in ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"):
                write_run(root, f"dg/test/{dataset}/shots_16/{trainer}/{xd_cfg}/seed{seed}",
                          novel - 16 + rng.normal(0, 2), rng=rng)
        for k in (1, 2, 4, 8, 16):
            for dataset in datasets[-2:]:
                for seed in seeds:
                    write_run(root, f"fewshot/train_all/{dataset}/shots_{k}/{trainer}/{fewshot_cfg.format(k=k)}/seed{seed}",
                              base - 25 + 6 * np.log2(k) + rng.normal(0, 1.5), rng=rng)
    for rate in ("0.0", "0.1", "0.2", "0.3"):
        for trainer, cfg, *_ in FAKE_METHODS[1:]:
            for seed in seeds:
                for dataset in ("caltech101", "oxford_pets"):
                    drop = 30 * float(rate)
                    prefix = f"studies/label_noise/rate_{rate}/base2new"
                    write_run(root, f"{prefix}/train_base/{dataset}/shots_16/{trainer}/{cfg}/seed{seed}",
                              90 - drop + rng.normal(0, 1), rng=rng)
                    write_run(root, f"{prefix}/test_new/{dataset}/shots_16/{trainer}/{cfg}/seed{seed}",
                              85 - drop / 2 + rng.normal(0, 1), rng=rng)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Write a FAKE output root for trying tools/report.py.")
    parser.add_argument("output_root")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--datasets", nargs="+", default=list(BASE2NEW), help="base-to-novel datasets (default: 11)")
    args = parser.parse_args(argv)
    make_fake_output(args.output_root, args.seeds, args.datasets)
    print(f"wrote fake runs (made-up numbers) under {args.output_root}")


if __name__ == "__main__":
    run_cli(main)
