"""End-to-end benchmark: one base-to-novel dataset and seed through our scripts, timed per phase.

    python tools/bench_e2e.py --work /tmp/mma_e2e                 # the default setting (GPU)
    python tools/bench_e2e.py --work /tmp/mma_e2e_cpu --device cpu --clip tiny --classes 10 \\
        --test-per-class 5 --epochs 1                             # a CPU-sized version
    python tools/bench_e2e.py --work /tmp/mma_e2e --run-table     # also the same runs in one process

Builds a Caltech101-shaped dataset in the CoOp layout (``caltech-101/101_ObjectCategories/<class>/``
JPEGs and ``split_zhou_Caltech101.json``; by default 100 classes with 16 train / 4 val / 25 test
images of 400x300 each) and a random CLIP checkpoint (ViT-B/16 sizes, OpenAI layout, fp16), then runs
``scripts/mmadapter/base2new_train.sh caltech101 1`` (train on base, 5 epochs of vit_b16_ep5, test
base) and ``base2new_test.sh caltech101 1`` (test new), printing the wall time of each phase. The
data and the checkpoint are kept in --work and reused; the run outputs are made afresh each time.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np
from PIL import Image

from dassl.utils import write_json
from dassl.utils.errors import add_debug_flag, run_cli
from tools.make_tiny_clip import TINY_VIT_SIZES, VIT_B16_SIZES, make_state_dict, save_state_dict

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPTS = osp.join(REPO_ROOT, "scripts", "mmadapter")
# The tiny CLIP has 2 blocks per tower and 32x32 inputs: adapters go into blocks 1..2.
TINY_OPTS = ["INPUT.SIZE", "(32,32)", "TRAINER.MMADAPTER.ADAPTER_START", "1", "TRAINER.MMADAPTER.ADAPTER_END", "2"]


def smooth_photo(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A photo-like image (smooth colour fields plus mild noise), so that JPEG sizes and decoding
    costs resemble real photos rather than white noise."""
    coarse = Image.fromarray((rng.random((6, 8, 3)) * 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    pixels = np.asarray(coarse, dtype=np.int16) + rng.integers(-12, 13, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_caltech_like(root: str, classes: int, per_split: Dict[str, int], size: Sequence[int]) -> int:
    """Write the dataset under ``root/caltech-101`` (skipped when its split file exists); returns the
    number of images."""
    dataset_dir = osp.join(root, "caltech-101")
    split_path = osp.join(dataset_dir, "split_zhou_Caltech101.json")
    total = classes * sum(per_split.values())
    if osp.isfile(split_path):
        return total
    split: Dict[str, List[list]] = {name: [] for name in per_split}
    jobs = []
    for label in range(classes):
        name = f"category_{label:03d}"
        index = 0
        for split_name, count in per_split.items():
            for _ in range(count):
                relative = f"{name}/image_{index + 1:04d}.jpg"
                split[split_name].append([relative, label, name.replace("_", " ")])
                jobs.append((osp.join(dataset_dir, "101_ObjectCategories", relative), label * 1000 + index))
                index += 1

    def write(job) -> None:
        path, seed = job
        os.makedirs(osp.dirname(path), exist_ok=True)
        smooth_photo(np.random.default_rng(seed), size[0], size[1]).save(path, quality=90)

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(write, jobs))
    write_json(split, split_path)
    return total


def run_phase(name: str, command: List[str], env: Dict[str, str], times: Dict[str, float]) -> None:
    start = time.time()
    done = subprocess.run(command, env=env, cwd=REPO_ROOT)
    times[name] = time.time() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}): {' '.join(command)}")
    print(f"[{name}] {times[name]:.1f} s", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Time our base-to-novel scripts on a Caltech101-shaped dataset.")
    parser.add_argument("--work", default="bench_e2e", help="folder for the data, checkpoint and outputs")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--clip", choices=("vit-b16", "tiny"), default="vit-b16", help="random CLIP sizes")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--train-per-class", type=int, default=16)
    parser.add_argument("--val-per-class", type=int, default=4)
    parser.add_argument("--test-per-class", type=int, default=25)
    parser.add_argument("--image-size", type=int, nargs=2, default=(400, 300), metavar=("W", "H"))
    parser.add_argument("--epochs", type=int, help="OPTIM.MAX_EPOCH (default: the config's 5)")
    parser.add_argument("--workers", type=int, default=8, help="DATALOADER.NUM_WORKERS (default 8, as the config)")
    parser.add_argument("--run-table", action="store_true", help="also run the same two runs with tools/run_table.py")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE overrides (last on the line)")
    add_debug_flag(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    work = osp.abspath(args.work)
    data, output = osp.join(work, "data"), osp.join(work, "output")
    times: Dict[str, float] = {}

    start = time.time()
    per_split = {"train": args.train_per_class, "val": args.val_per_class, "test": args.test_per_class}
    images = make_caltech_like(data, args.classes, per_split, args.image_size)
    times["make data"] = time.time() - start
    print(f"[make data] {images} JPEGs of {args.image_size[0]}x{args.image_size[1]} in {data}: {times['make data']:.1f} s")

    start = time.time()
    checkpoint = osp.join(work, f"clip_{args.clip}.pt")
    if not osp.isfile(checkpoint):
        save_state_dict(make_state_dict("vit", VIT_B16_SIZES if args.clip == "vit-b16" else TINY_VIT_SIZES), checkpoint)
    times["make checkpoint"] = time.time() - start
    print(f"[make checkpoint] {checkpoint}: {times['make checkpoint']:.1f} s")

    opts = ["MODEL.BACKBONE.NAME", checkpoint, "DATALOADER.NUM_WORKERS", str(args.workers)]
    opts += ["USE_CUDA", "False"] if args.device == "cpu" else []
    opts += TINY_OPTS if args.clip == "tiny" else []
    opts += ["OPTIM.MAX_EPOCH", str(args.epochs)] if args.epochs else []
    opts += list(args.opts)
    if any(" " in value for value in opts):
        raise SystemExit(f"option values cannot contain spaces (the scripts' EXTRA_OPTS splits on them): {opts}")
    shutil.rmtree(output, ignore_errors=True)
    env = dict(os.environ, DATA=data, OUTPUT=output, PYTHON=sys.executable, EXTRA_OPTS=" ".join(opts), QUIET="1")
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    run_phase("base2new_train.sh (train base + test base)", ["bash", osp.join(SCRIPTS, "base2new_train.sh"),
              "caltech101", "1"], env, times)
    run_phase("base2new_test.sh (test new)", ["bash", osp.join(SCRIPTS, "base2new_test.sh"), "caltech101", "1"],
              env, times)
    scripts_total = times["base2new_train.sh (train base + test base)"] + times["base2new_test.sh (test new)"]
    if args.run_table:
        run_phase("run_table.py (the same two runs, one process)",
                  [sys.executable, osp.join(REPO_ROOT, "tools", "run_table.py"), "--root", data, "--output",
                   osp.join(work, "output_table"), "--datasets", "caltech101", "--seeds", "1", "--opts", *opts],
                  env, times)
        shutil.rmtree(osp.join(work, "output_table"), ignore_errors=True)

    print("\nphase                                             seconds")
    for name, seconds in times.items():
        print(f"{name:<48}  {seconds:7.1f}")
    print(f"{'scripts total':<48}  {scripts_total:7.1f}")


if __name__ == "__main__":
    run_cli(main)
