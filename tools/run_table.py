"""The whole MMA base-to-novel table in one process, then the table and the time.

    python tools/run_table.py --root data --output output            # 11 datasets x seeds 1 2 3
    python tools/run_table.py --datasets eurosat dtd --seeds 1 2 --opts DATALOADER.NUM_WORKERS 8

Each (dataset, seed) is the same pair of runs as ``scripts/mmadapter/base2new_train.sh`` and
``base2new_test.sh`` (train.py's code with the same arguments, so the same folders, log.txt,
checkpoints and result.json files, and the same numbers), but without a process per run:

- CLIP is loaded once (trainers/kit/shared_backbone.py keeps each run's random draws as a fresh load);
- per dataset, every image is decoded once and kept for all seeds: the training shots and the
  resized test crops (DATALOADER.TEST.CACHE_DECODED, exact);
- the text prefix cache and truncation are on, as in every run (docs/SPEED.md).

A run whose folder already holds result.json is skipped, as the scripts do. ``--opts KEY VALUE ...``
(last on the line) is appended to every run's options, like the scripts' EXTRA_OPTS; options that can
change the numbers put the runs in the scripts' ``<cfg>_<tag>`` folder (``--config-tag``, as the
scripts' CONFIG_TAG, else a hash of those options: tools/config_tag.py).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import os.path as osp
import sys
import time
from typing import List, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import train
from dassl.data.decoded_images import shared_decoded_images
from dassl.utils.errors import add_debug_flag, run_cli
from tools.config_tag import check_tag_record, config_folder, write_tag_record
from tools.reporting import build_tables, render
from tools.sweeping.runs import last_saved_epoch
from trainers.kit.shared_backbone import shared_backbones

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAINER = "MultiModalAdapter"
SHOTS = 16
DATASETS = ["caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101", "fgvc_aircraft",
            "sun397", "dtd", "eurosat", "ucf101", "imagenet"]


def run_dir(output: str, phase: str, dataset: str, cfg_folder: str, seed: int) -> str:
    """The scripts' folder: <output>/base2new/<phase>/<dataset>/shots_16/<trainer>/<cfg>/seed<S>."""
    return osp.join(output, "base2new", phase, dataset, f"shots_{SHOTS}", TRAINER, cfg_folder, f"seed{seed}")


def config_file(folder: str, name: str) -> str:
    """configs/<folder>/<name>.yaml, or an exit naming the choices."""
    directory = osp.join(REPO_ROOT, "configs", folder)
    path = osp.join(directory, f"{name}.yaml")
    if not osp.isfile(path):
        available = sorted(f[:-5] for f in os.listdir(directory) if f.endswith(".yaml"))
        raise SystemExit(f"Unknown name {name!r}: no {path}. Available: {', '.join(available)}")
    return path


class TableRunner:
    """Runs train.py's ``main`` in this process for each base-to-novel run, skipping finished ones."""

    def __init__(self, root: str, output: str, cfg_name: str, imagenet_cfg_name: str, opts: Sequence[str],
                 quiet: bool, config_tag: str = "") -> None:
        self.root, self.output, self.quiet = root, output, quiet
        self.cfg_name, self.imagenet_cfg_name = cfg_name, imagenet_cfg_name
        self.opts = list(opts)
        self.config_tag = config_tag

    def _main(self, dataset: str, cfg_name: str, seed: int, outdir: str, flags: List[str], opts: List[str]) -> float:
        """One train.py run; returns its wall time (0 when it was already finished)."""
        if self.config_tag:
            check_tag_record(outdir, self.config_tag, self.opts)
        if osp.isfile(osp.join(outdir, "result.json")):
            print(f"skip: {outdir} is finished (result.json exists)")
            return 0.0
        if self.config_tag:
            write_tag_record(outdir, self.config_tag, self.opts)
        argv = [
            "--root", self.root, "--seed", str(seed), "--trainer", TRAINER,
            "--dataset-config-file", config_file("datasets", dataset),
            "--config-file", config_file(osp.join("trainers", TRAINER), cfg_name),
            "--output-dir", outdir, *flags,
            "DATASET.NUM_SHOTS", str(SHOTS), *opts, "DATALOADER.TEST.CACHE_DECODED", "True", *self.opts,
        ]
        start = time.time()
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink if self.quiet else sys.stdout):
            train.main(train.build_parser().parse_args(argv))
        return time.time() - start

    def run_dataset(self, dataset: str, seeds: Sequence[int]) -> None:
        cfg_name = self.imagenet_cfg_name if dataset == "imagenet" else self.cfg_name
        folder = config_folder(cfg_name, self.opts, self.config_tag)
        with shared_decoded_images():
            for seed in seeds:
                train_dir = run_dir(self.output, "train_base", dataset, folder, seed)
                train_time = self._main(dataset, cfg_name, seed, train_dir, [], ["DATASET.SUBSAMPLE_CLASSES", "base"])
                test_dir = run_dir(self.output, "test_new", dataset, folder, seed)
                flags = ["--eval-only", "--model-dir", train_dir, "--load-epoch", str(last_saved_epoch(train_dir))]
                test_time = self._main(dataset, cfg_name, seed, test_dir, flags, ["DATASET.SUBSAMPLE_CLASSES", "new"])
                print(f"{dataset} seed {seed}: train + test base {train_time:.1f} s, test new {test_time:.1f} s",
                      flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run the MMA base-to-novel table in one process and print it.")
    parser.add_argument("--root", default="data", help="dataset root (default: data)")
    parser.add_argument("--output", default="output", help="output root, as the scripts' OUTPUT (default: output)")
    parser.add_argument("--datasets", nargs="+", default=DATASETS, help="datasets (default: the 11 of the table)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds (default: 1 2 3)")
    parser.add_argument("--cfg", default="vit_b16_ep5", help="config of every dataset but ImageNet")
    parser.add_argument("--imagenet-cfg", default="vit_b16_ep5_imnet", help="config of ImageNet")
    parser.add_argument("--config-tag", default="",
                        help="name of the config folder of runs whose --opts can change the numbers (the scripts' "
                             "CONFIG_TAG; default: a hash of those options)")
    parser.add_argument("--verbose", action="store_true", help="show each run's output (always in its log.txt)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="KEY VALUE config overrides for every run (last on the line)")
    add_debug_flag(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    if len(args.opts) % 2:
        raise SystemExit(f"trailing options must be KEY VALUE pairs, got {args.opts}")
    for dataset in args.datasets:
        config_file("datasets", dataset)
    runner = TableRunner(args.root, args.output.rstrip("/"), args.cfg, args.imagenet_cfg, args.opts,
                         quiet=not args.verbose, config_tag=args.config_tag)
    start = time.time()
    with shared_backbones():
        for dataset in args.datasets:
            runner.run_dataset(dataset, args.seeds)
    elapsed = time.time() - start
    print(render(build_tables(runner.output), "md"))
    print(f"\nWhole table: {len(args.datasets)} datasets x {len(args.seeds)} seeds in {elapsed:.1f} s")


if __name__ == "__main__":
    run_cli(main)
