"""Benchmark MMA's training step and evaluation at CLIP ViT-B/16 sizes (random weights, no downloads).

    python tools/bench.py --device cuda                       # every workload, 20 timed steps each
    python tools/bench.py --device cpu                        # CPU-sized: 2 workloads, 2 steps, a few minutes
    python tools/bench.py --device cuda --baseline            # also the text savings switched off
    python tools/bench.py --device cuda --opts TRAINER.MMADAPTER.COMPILE reduce-overhead
    python tools/bench.py --method mmapp --device cpu --steps 2 --warmup 1 --workloads train_b16_c50
    python tools/bench.py --method maple --device cpu --steps 1 --warmup 0 --workloads train_b16_c50   # or promptsrc

The trainer is the real one (built by the engine from the shipped vit_b16_ep5.yaml; PREC amp, i.e.
fp16 autocast + GradScaler on CUDA, fp32 on the CPU), on a synthetic class list and random images
already on the device, so the figures are the model's, without data loading. Prints per workload the
time per step (or per evaluation batch), images/s and peak memory (CUDA: max allocated; CPU: the
process's peak resident size so far). ``--method mmapp`` times MMA++ instead (its released
b2n_hc.yaml: the 80-template bank needs no downloaded descriptions). Without --steps, --warmup,
--eval-batch or --workloads, a CPU run takes CPU-sized values (CPU_DEFAULTS): the CUDA defaults would
keep ViT-B/16 busy for an hour.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import os.path as osp
import resource
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch
from PIL import Image
from tqdm import tqdm

import train
from clip.model import CLIP, convert_weights
from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from dassl.engine import build_trainer
from dassl.utils.errors import add_debug_flag, run_cli
from tools.timing import time_calls
from trainers.kit.shared_backbone import shared_backbones

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MMA_CONFIG = osp.join(REPO_ROOT, "configs", "trainers", "MultiModalAdapter", "vit_b16_ep5.yaml")
MMAPP_CONFIG = osp.join(REPO_ROOT, "configs", "trainers", "MultiModalAdapterPP", "b2n_hc.yaml")
# --method -> (trainer, config file, config node, name in the report)
METHODS = {
    "mma": ("MultiModalAdapter", MMA_CONFIG, "MMADAPTER", "MMA"),
    "mmapp": ("MultiModalAdapterPP", MMAPP_CONFIG, "MMADAPTERPP", "MMA++"),
    "maple": ("MaPLe", osp.join(REPO_ROOT, "configs", "trainers", "MaPLe", "vit_b16_c2_ep5_batch4_2ctx.yaml"),
              "MAPLE", "MaPLe"),
    "promptsrc": ("PromptSRC", osp.join(REPO_ROOT, "configs", "trainers", "PromptSRC",
                                        "vit_b16_c2_ep20_batch4_4+4ctx.yaml"), "PROMPTSRC", "PromptSRC"),
}
# Methods whose trainers load the backbone from MODEL.BACKBONE.NAME (given a random ViT-B/16 file) and
# have no EVAL_PREC switch; they run at PREC amp like MMA.
FILE_BACKBONE = ("maple", "promptsrc")
VIT_B16 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=16,
               context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
               transformer_layers=12)
# Class names of realistic length: the longest prompt ("a photo of a <name>.") has 18 tokens with
# its start and end tokens, about the longest of the 11 datasets' prompts.
WORDS = ["red", "mountain", "bike", "pembroke", "welsh", "corgi", "indoor", "general", "store", "boeing",
         "tabby", "cat", "annual", "crop", "land", "sea", "lake", "forest", "river", "highway"]
LONGEST_NAME = "the greater swiss mountain dog with a long grey fluffy coat"


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # "train" or "eval"
    batch: int
    classes: int


WORKLOADS = [
    Workload("train_b16_c50", "train", 16, 50),
    Workload("train_b16_c200", "train", 16, 200),
    Workload("train_b128_c500", "train", 128, 500),
    Workload("eval_fp32", "eval", 100, 50),
    Workload("eval_autocast", "eval", 100, 50),
]
# Defaults per device for the options left out. On 2 CPU cores a ViT-B/16 training step at batch 16
# takes about 7 s and an fp32 evaluation batch of 8 about 2 s (docs/SPEED.md).
CUDA_DEFAULTS = dict(steps=20, warmup=5, eval_batch=100, workloads=[w.name for w in WORKLOADS])
CPU_DEFAULTS = dict(steps=2, warmup=1, eval_batch=8, workloads=["train_b16_c50", "eval_fp32"])
CPU_DEFAULTS_TIME = "a few minutes"  # 2 builds, 3 training steps of ~7 s, 3 eval batches of ~2 s


def class_names(n: int) -> List[str]:
    """``n`` distinct names of one to three words, the first one the longest."""
    names = [LONGEST_NAME]
    i = 0
    while len(names) < n:
        count = 1 + i % 3
        names.append(" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(count)) + f" {i}")
        i += 1
    return names[:n]


@DATASET_REGISTRY.register()
class BenchClasses(DatasetBase):
    """One placeholder item per class of DATASET.ROOT/classnames.txt: the engine needs a dataset;
    the benchmark feeds its own tensors."""

    def __init__(self, cfg) -> None:
        root = cfg.DATASET.ROOT
        with open(osp.join(root, "classnames.txt")) as handle:
            names = handle.read().splitlines()
        image = osp.join(root, "placeholder.jpg")
        items = [Datum(impath=image, label=i, classname=name) for i, name in enumerate(names)]
        super().__init__(train_x=items, test=items[:1])


def random_vit_b16(cfg, precision: str) -> CLIP:
    """A CLIP ViT-B/16 with CLIP's random initialisation, in the trainer's precision."""
    model = CLIP(**VIT_B16).eval()
    if precision == "fp16":
        convert_weights(model)
    return model


def build_bench_trainer(workdir: str, workload: Workload, device: str, opts: Sequence[str], method: str = "mma"):
    root = osp.join(workdir, f"classes{workload.classes}")
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, "classnames.txt"), "w") as handle:
        handle.write("\n".join(class_names(workload.classes)))
    Image.new("RGB", (8, 8)).save(osp.join(root, "placeholder.jpg"))
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    trainer_name, config_file, _, _ = METHODS[method]
    cfg.merge_from_file(config_file)
    cfg.merge_from_list([
        "TRAINER.NAME", trainer_name, "DATASET.NAME", "BenchClasses", "DATASET.ROOT", root,
        "OUTPUT_DIR", osp.join(workdir, "output"), "USE_CUDA", str(device == "cuda"),
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", str(workload.batch), "VERBOSE", "False",
        *opts,
    ])
    cfg.freeze()
    with contextlib.redirect_stdout(io.StringIO()):
        return build_trainer(cfg)


def peak_memory_mib(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def counted(call: Callable[[], object], progress: tqdm) -> Callable[[], None]:
    """``call`` that also advances the progress bar by one step."""
    def step() -> None:
        call()
        progress.update()
    return step


def run_workload(trainer, workload: Workload, args, progress: tqdm) -> Dict[str, float]:
    device = args.device
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    generator = torch.Generator().manual_seed(0)
    if workload.kind == "train":
        images = torch.randn(workload.batch, 3, 224, 224, generator=generator).to(device)
        labels = torch.randint(workload.classes, (workload.batch,), generator=generator).to(device)
        trainer.set_model_mode("train")
        trainer.batch_idx, trainer.num_batches = 0, 1 << 30
        seconds = time_calls(counted(lambda: trainer.forward_backward({"img": images, "label": labels}), progress),
                             args.steps, args.warmup, device)
        batch = workload.batch
    else:
        batch = args.eval_batch
        images = torch.randn(batch, 3, 224, 224, generator=generator).to(device)
        if args.method not in FILE_BACKBONE:
            trainer.cfg.defrost()
            eval_prec = "fp32" if workload.name == "eval_fp32" else args.eval_autocast
            trainer.cfg.TRAINER[METHODS[args.method][2]].EVAL_PREC = eval_prec
            trainer.cfg.freeze()
        trainer.set_model_mode("eval")
        with torch.no_grad():
            seconds = time_calls(counted(lambda: trainer.model_inference(images), progress),
                                 args.steps, args.warmup, device)
    return {"ms": seconds * 1000, "images_per_s": batch / seconds, "peak_mib": peak_memory_mib(device)}


def format_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def print_table(rows: List[List[str]], device: str) -> None:
    header = ["workload", "ms", "img/s", "peak MiB"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("\n".join([format_row(header, widths), format_row(["-" * w for w in widths], widths)]
                    + [format_row(r, widths) for r in rows]))
    if device == "cpu":
        print(f"\nCPU figures ({torch.get_num_threads()} threads): they show the switches' relative effect only.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="MMA training-step and evaluation benchmark (ViT-B/16 sizes).")
    parser.add_argument("--method", choices=list(METHODS), default="mma", help="the trainer to time (default mma)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workloads", nargs="+", choices=[w.name for w in WORKLOADS],
                        help="default: all on CUDA; train_b16_c50 and eval_fp32 on the CPU")
    parser.add_argument("--steps", type=int, help="timed steps per workload (default 20 on CUDA, 2 on the CPU)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 5 on CUDA, 1 on the CPU)")
    parser.add_argument("--eval-batch", type=int,
                        help="evaluation batch (default 100 on CUDA, as the configs; 8 on the CPU)")
    parser.add_argument("--eval-autocast", choices=("bf16", "fp16"), default="bf16", help="eval_autocast's dtype")
    parser.add_argument("--baseline", action="store_true",
                        help="also run with TEXT_TRUNCATE and TEXT_PREFIX_CACHE off (the reference's text pass)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE overrides (last on the line)")
    add_debug_flag(parser)
    return parser


def fill_device_defaults(args: argparse.Namespace) -> List[str]:
    """Fill the options left out with the device's defaults; return the names of those filled."""
    defaults = CUDA_DEFAULTS if args.device == "cuda" else CPU_DEFAULTS
    filled = [name for name in defaults if getattr(args, name) is None]
    for name in filled:
        setattr(args, name, defaults[name])
    return filled


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but CUDA is not available here; use --device cpu.")
    filled = fill_device_defaults(args)
    if args.device == "cpu" and filled:
        flags = ", ".join("--" + name.replace("_", "-") for name in filled)
        print(f"CPU run with CPU-sized defaults for {flags}: {' '.join(args.workloads)}, {args.steps} timed "
              f"step(s) after {args.warmup}, eval batch {args.eval_batch}; {CPU_DEFAULTS_TIME} on 2 cores. "
              "Set those options for a longer run.", flush=True)
    variants = [("ours", [])]
    node = f"TRAINER.{METHODS[args.method][2]}"
    if args.baseline:
        variants.append(("text savings off", [f"{node}.TEXT_TRUNCATE", "False", f"{node}.TEXT_PREFIX_CACHE", "False"]))
    rows = []
    total_calls = len(args.workloads) * len(variants) * (args.steps + args.warmup)
    with tempfile.TemporaryDirectory() as workdir, shared_backbones(random_vit_b16), \
            tqdm(total=total_calls, unit="step", desc="timed and warm-up steps", file=sys.stderr) as progress:
        if args.method in FILE_BACKBONE:
            path = osp.join(workdir, "random_vit_b16.pt")
            torch.save(random_vit_b16(None, "fp16").state_dict(), path)
            variants = [("ours", ["MODEL.BACKBONE.NAME", path, f"{node}.PREC", "amp"])]
        for workload in [w for w in WORKLOADS if w.name in args.workloads]:
            for label, switches in variants:
                trainer = build_bench_trainer(workdir, workload, args.device, [*switches, *args.opts], args.method)
                figures = run_workload(trainer, workload, args, progress)
                name = workload.name if label == "ours" else f"  ({label})"
                rows.append([name, f"{figures['ms']:.1f}", f"{figures['images_per_s']:.1f}",
                             f"{figures['peak_mib']:.0f}"])
                progress.write(f"{workload.name} [{label}]: {figures['ms']:.1f} ms, "
                               f"{figures['images_per_s']:.1f} img/s, "
                               f"text context {getattr(trainer.model, 'text_length', 'full')}")
                del trainer
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"\n{METHODS[args.method][3]}, ViT-B/16 sizes, random weights, on {device_name}; {args.steps} timed steps after {args.warmup}")
    print_table(rows, args.device)


if __name__ == "__main__":
    run_cli(main)
