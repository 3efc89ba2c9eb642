"""Benchmark a method's training step and evaluation at CLIP ViT-B/16 sizes (random weights, no downloads).

    python tools/bench.py --device cuda                       # MMA: its sweep runs' sizes, 20 timed steps each
    python tools/bench.py --method cocoop --device cuda       # any method of METHODS, or --method all
    python tools/bench.py --device cpu                        # CPU-sized: 2 workloads, 2 steps, a few minutes
    python tools/bench.py --device cuda --baseline            # also the text savings switched off (MMA, MMA++)
    python tools/bench.py --device cuda --opts TRAINER.MMADAPTER.COMPILE reduce-overhead
    python tools/bench.py --method mmapp --device cpu --steps 2 --warmup 1 --workloads train_b16_c50
    python tools/bench.py --method coop --device cpu --steps 1 --warmup 0 --workloads train_cfg_c50

The trainer is the real one, built by the engine from the method's shipped config at its configured
precision (PREC; on the CPU fp16 and amp run in fp32), on a synthetic class list and random images
already on the device, so the figures are the model's, without data loading. A training workload is
``train_b<batch>_c<classes>`` or ``train_cfg_c<classes>`` (the config's training batch); ``eval_fp32``
and ``eval_autocast`` time the evaluation. Prints per workload the time per step (or per evaluation
batch), images/s and peak memory from the trainer's build on (CUDA: max allocated; CPU: the process's
peak resident size so far), then the peak over the training workloads: the memory of one run.
Without --steps, --warmup, --eval-batch or --workloads, a CPU run takes CPU-sized values
(CPU_DEFAULTS): the CUDA defaults would keep ViT-B/16 busy for an hour.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import os
import os.path as osp
import re
import resource
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

import train
from clip.model import CLIP, convert_weights
from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from dassl.engine import build_trainer
from dassl.utils.errors import add_debug_flag, run_cli
from tools.timing import time_calls
from trainers.kgcoop import HAND_CRAFTED_TEMPLATES
from trainers.kit.shared_backbone import shared_backbones
from trainers.kit.templates import DATASET_TEMPLATES

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The training runs of the sweeps at ViT-B/16, by class count, at the method's configured batch: a
# typical base-to-novel dataset (50 base classes), SUN397 (199 base classes), ImageNet base-to-novel
# (500) and ImageNet's 1000 classes (few-shot, and the source of cross-dataset transfer), the largest.
SWEEP_RUNS = ("train_cfg_c50", "train_cfg_c200", "train_cfg_c500", "train_cfg_c1000")


@dataclass(frozen=True)
class Method:
    """A trainer the bench times, with the config its sweep runs use (every such config of a method
    has the same training batch, MMA's ImageNet ones aside)."""

    trainer: str
    config: str  # under configs/trainers
    node: str  # TRAINER.<node>
    title: str
    shared_backbone: bool = False  # takes CLIP from shared_backbones(); else loads MODEL.BACKBONE.NAME
    speed_keys: bool = False  # TEXT_TRUNCATE, TEXT_PREFIX_CACHE and EVAL_PREC in its config node
    stored_embeddings: bool = False  # encodes the images once at build and trains on the embeddings
    runs: Tuple[str, ...] = SWEEP_RUNS

    @property
    def config_file(self) -> str:
        return osp.join(REPO_ROOT, "configs", "trainers", self.config)


METHODS = {
    # MMA's ImageNet runs take batch 128 (vit_b16_ep5_imnet.yaml, vit_b16_ep1_xd.yaml); the bench's
    # config adapts from block 5, so its 1000-class figure bounds the cross-dataset run's (from block 9).
    "mma": Method("MultiModalAdapter", "MultiModalAdapter/vit_b16_ep5.yaml", "MMADAPTER", "MMA",
                  shared_backbone=True, speed_keys=True,
                  runs=("train_b16_c50", "train_b16_c200", "train_b128_c500", "train_b128_c1000")),
    # b2n_hc.yaml's 80-template bank needs no downloaded descriptions. The sweeps' b2n_cupl bank (LLM
    # descriptions) has other counts and lengths per class, hence another stored text prefix.
    "mmapp": Method("MultiModalAdapterPP", "MultiModalAdapterPP/b2n_hc.yaml", "MMADAPTERPP", "MMA++",
                    shared_backbone=True, speed_keys=True),
    "maple": Method("MaPLe", "MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml", "MAPLE", "MaPLe"),
    "promptsrc": Method("PromptSRC", "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml", "PROMPTSRC", "PromptSRC"),
    "coop": Method("CoOp", "CoOp/vit_b16_ctxv1.yaml", "COOP", "CoOp"),
    "cocoop": Method("CoCoOp", "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml", "COCOOP", "CoCoOp"),
    "clip_adapter": Method("CLIP_Adapter", "CLIP_Adapter/vit_b16.yaml", "CLIP_ADAPTER", "CLIP-Adapter"),
    "kgcoop": Method("KgCoOp", "KgCoOp/vit_b16_ep100_ctxv1.yaml", "COOP", "KgCoOp"),
    "attnmma": Method("AttentionMultiModalAdapter", "AttentionMultiModalAdapter/vit_b16_coop.yaml", "ATTNMMA",
                      "attention MMA", stored_embeddings=True),
}
VIT_B16 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=16,
               context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
               transformer_layers=12)
# Class names of realistic length: the longest prompt ("a photo of a <name>.") has 18 tokens with
# its start and end tokens, about the longest of the 11 datasets' prompts.
WORDS = ["red", "mountain", "bike", "pembroke", "welsh", "corgi", "indoor", "general", "store", "boeing",
         "tabby", "cat", "annual", "crop", "land", "sea", "lake", "forest", "river", "highway"]
LONGEST_NAME = "the greater swiss mountain dog with a long grey fluffy coat"
# The methods that fill a dataset's hand-written template get ImageNet's for the bench's classes.
BENCH_TEMPLATE = DATASET_TEMPLATES["ImageNet"]
CUDA_CONTEXT_MIB = 512  # per process, on top of what torch allocates (0.3-0.5 GB)


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # "train" or "eval"
    batch: Optional[int]  # training: None means the config's training batch; evaluation: --eval-batch
    classes: int


EVAL_WORKLOADS = ("eval_fp32", "eval_autocast")
EVAL_CLASSES = 50
TRAIN_NAME = re.compile(r"train_(?:b([1-9][0-9]*)|cfg)_c([1-9][0-9]*)")
# Defaults per device for the options left out (workloads: default_workloads). On 2 CPU cores a
# ViT-B/16 training step at batch 16 takes about 7 s and an fp32 evaluation batch of 8 about 2 s
# (docs/SPEED.md).
CUDA_DEFAULTS = dict(steps=20, warmup=5, eval_batch=100)
CPU_DEFAULTS = dict(steps=2, warmup=1, eval_batch=8)
CPU_DEFAULTS_TIME = "a few minutes"  # 2 builds, 3 training steps of ~7 s, 3 eval batches of ~2 s


def parse_workload(name: str) -> Workload:
    """The workload a name stands for; a ValueError names the accepted forms."""
    if name in EVAL_WORKLOADS:
        return Workload(name, "eval", None, EVAL_CLASSES)
    match = TRAIN_NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"unknown workload {name!r}: use {' or '.join(EVAL_WORKLOADS)}, train_b<batch>_c<classes>, "
                         "or train_cfg_c<classes> (the method config's training batch)")
    batch, classes = match.groups()
    return Workload(name, "train", int(batch) if batch else None, int(classes))


def workload_name(name: str) -> str:
    """argparse type of --workloads: a valid workload name, kept as given."""
    try:
        parse_workload(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return name


def eval_workloads(method: Method) -> List[str]:
    """eval_autocast sets EVAL_PREC, which only the methods with the speed switches have."""
    return list(EVAL_WORKLOADS) if method.speed_keys else ["eval_fp32"]


def default_workloads(method: Method, device: str) -> List[str]:
    """CUDA: the method's sweep runs and evaluations; CPU: its smallest run and the fp32 evaluation."""
    if device == "cuda":
        return [*method.runs, *eval_workloads(method)]
    return [method.runs[0], "eval_fp32"]


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


@contextlib.contextmanager
def bench_templates() -> Iterator[None]:
    """Give the bench's dataset a hand-written template for as long as the bench runs."""
    tables = (DATASET_TEMPLATES, HAND_CRAFTED_TEMPLATES)
    for table in tables:
        table[BenchClasses.__name__] = BENCH_TEMPLATE
    try:
        yield
    finally:
        for table in tables:
            table.pop(BenchClasses.__name__, None)


def random_vit_b16(cfg, precision: str) -> CLIP:
    """A CLIP ViT-B/16 with CLIP's random initialisation, in the trainer's precision."""
    model = CLIP(**VIT_B16).eval()
    if precision == "fp16":
        convert_weights(model)
    return model


def save_random_vit_b16(workdir: str) -> str:
    """A random ViT-B/16 checkpoint for the methods that load MODEL.BACKBONE.NAME."""
    path = osp.join(workdir, "random_vit_b16.pt")
    torch.save(random_vit_b16(None, "fp16").state_dict(), path)
    return path


def build_bench_trainer(workdir: str, workload: Workload, device: str, opts: Sequence[str], method: Method):
    root = osp.join(workdir, f"classes{workload.classes}")
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, "classnames.txt"), "w") as handle:
        handle.write("\n".join(class_names(workload.classes)))
    Image.new("RGB", (8, 8)).save(osp.join(root, "placeholder.jpg"))
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    cfg.merge_from_file(method.config_file)
    resolution = VIT_B16["image_resolution"]
    fixed_batch = workload.kind == "train" and workload.batch is not None
    batch = ["DATALOADER.TRAIN_X.BATCH_SIZE", str(workload.batch)] if fixed_batch else []
    cfg.merge_from_list([
        "TRAINER.NAME", method.trainer, "DATASET.NAME", BenchClasses.__name__, "DATASET.ROOT", root,
        "OUTPUT_DIR", osp.join(workdir, "output"), "USE_CUDA", str(device == "cuda"),
        "INPUT.SIZE", f"({resolution}, {resolution})", "DATALOADER.NUM_WORKERS", "0", "VERBOSE", "False",
        *batch, *opts,
    ])
    cfg.freeze()
    with contextlib.redirect_stdout(io.StringIO()):
        return build_trainer(cfg)


def reset_peak_memory(device: str) -> None:
    """Start the peak from what stays allocated, the previous workload's trainer freed."""
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


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


def training_batch(trainer, workload: Workload, method: Method,
                   generator: torch.Generator) -> Dict[str, torch.Tensor]:
    """Random inputs of one training step: images, or for a method that trains on stored embeddings
    the unit-norm image embeddings it would read."""
    device = trainer.device
    batch = trainer.cfg.DATALOADER.TRAIN_X.BATCH_SIZE
    labels = torch.randint(workload.classes, (batch,), generator=generator).to(device)
    if method.stored_embeddings:
        features = F.normalize(torch.randn(batch, VIT_B16["embed_dim"], generator=generator), dim=-1)
        return {"feature": features.to(device), "label": labels}
    images = torch.randn(batch, 3, *trainer.cfg.INPUT.SIZE, generator=generator)
    return {"img": images.to(device), "label": labels}


def inference(trainer, method: Method) -> Callable[[torch.Tensor], torch.Tensor]:
    """Logits of a batch of images, as the method's evaluation computes them."""
    if method.stored_embeddings:
        return lambda images: trainer.model_inference(trainer.encode_images(images))
    return trainer.model_inference


def run_workload(trainer, workload: Workload, method: Method, args, progress: tqdm) -> Dict[str, float]:
    device = args.device
    generator = torch.Generator().manual_seed(0)
    if workload.kind == "train":
        batch = training_batch(trainer, workload, method, generator)
        trainer.set_model_mode("train")
        trainer.batch_idx, trainer.num_batches = 0, 1 << 30
        seconds = time_calls(counted(lambda: trainer.forward_backward(batch), progress),
                             args.steps, args.warmup, device)
        size = len(batch["label"])
    else:
        size = args.eval_batch
        images = torch.randn(size, 3, *trainer.cfg.INPUT.SIZE, generator=generator).to(device)
        if method.speed_keys:
            trainer.cfg.defrost()
            eval_prec = "fp32" if workload.name == "eval_fp32" else args.eval_autocast
            trainer.cfg.TRAINER[method.node].EVAL_PREC = eval_prec
            trainer.cfg.freeze()
        trainer.set_model_mode("eval")
        infer = inference(trainer, method)
        with torch.no_grad():
            seconds = time_calls(counted(lambda: infer(images), progress), args.steps, args.warmup, device)
    return {"batch": size, "ms": seconds * 1000, "images_per_s": size / seconds,
            "peak_mib": peak_memory_mib(device)}


def format_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def print_table(rows: List[List[str]], device: str) -> None:
    header = ["workload", "batch", "ms", "img/s", "peak MiB"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("\n".join([format_row(header, widths), format_row(["-" * w for w in widths], widths)]
                    + [format_row(r, widths) for r in rows]))
    if device == "cpu":
        print(f"\nCPU figures ({torch.get_num_threads()} threads): they show the switches' relative effect only.")


def print_run_memory(peak_mib: float, device: str) -> None:
    """The memory of one run, the figure that decides how many runs share a GPU."""
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"peak memory per run: {peak_mib:.0f} MiB ({name})")
    if device == "cuda":
        total_mib = torch.cuda.get_device_properties(0).total_memory / 2 ** 20
        runs = int(0.9 * total_mib // (peak_mib + CUDA_CONTEXT_MIB))
        print(f"runs per GPU: about {runs} (90 % of {total_mib:.0f} MiB / (peak + {CUDA_CONTEXT_MIB} MiB CUDA "
              "context per process))")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Training-step and evaluation benchmark of a method (ViT-B/16 sizes).")
    parser.add_argument("--method", choices=[*METHODS, "all"], default="mma",
                        help="the trainer to time (default mma); all: one table per method")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workloads", nargs="+", type=workload_name, metavar="WORKLOAD",
                        help=f"{', '.join(EVAL_WORKLOADS)}, train_b<batch>_c<classes> or train_cfg_c<classes> "
                             "(the config's batch). Default on CUDA: the method's sweep runs (Method.runs) and "
                             "evaluations; on the CPU: its first run and eval_fp32")
    parser.add_argument("--steps", type=int, help="timed steps per workload (default 20 on CUDA, 2 on the CPU)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 5 on CUDA, 1 on the CPU)")
    parser.add_argument("--eval-batch", type=int,
                        help="evaluation batch (default 100 on CUDA, as most configs; 8 on the CPU)")
    parser.add_argument("--eval-autocast", choices=("bf16", "fp16"), default="bf16", help="eval_autocast's dtype")
    parser.add_argument("--baseline", action="store_true",
                        help="also run with TEXT_TRUNCATE and TEXT_PREFIX_CACHE off (the reference's text pass)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE overrides (last on the line)")
    add_debug_flag(parser)
    return parser


def fill_device_defaults(args: argparse.Namespace, method: Method) -> List[str]:
    """Fill the options left out with the device's defaults for ``method``; return the names of those filled."""
    defaults = dict(CUDA_DEFAULTS if args.device == "cuda" else CPU_DEFAULTS,
                    workloads=default_workloads(method, args.device))
    filled = [name for name in defaults if getattr(args, name) is None]
    for name in filled:
        setattr(args, name, defaults[name])
    return filled


def usable_workloads(args: argparse.Namespace, method: Method) -> List[Workload]:
    """The workloads asked for that the method has, saying which are left out and why."""
    workloads = [parse_workload(name) for name in args.workloads]
    if method.speed_keys or all(w.name != "eval_autocast" for w in workloads):
        return workloads
    print(f"eval_autocast left out: {method.title} has no EVAL_PREC switch (it evaluates at its PREC).")
    return [w for w in workloads if w.name != "eval_autocast"]


def variants(args: argparse.Namespace, method: Method, backbone: str) -> List[Tuple[str, List[str]]]:
    """``(label, config switches)`` of each trainer to build per workload."""
    ours = ("ours", [] if method.shared_backbone else ["MODEL.BACKBONE.NAME", backbone])
    if not args.baseline:
        return [ours]
    if not method.speed_keys:
        print(f"--baseline left out: {method.title} has no text savings switches.")
        return [ours]
    node = f"TRAINER.{method.node}"
    return [ours, ("text savings off", [f"{node}.TEXT_TRUNCATE", "False", f"{node}.TEXT_PREFIX_CACHE", "False"])]


def announce_cpu_defaults(args: argparse.Namespace, filled: List[str]) -> None:
    flags = ", ".join("--" + name.replace("_", "-") for name in filled)
    print(f"CPU run with CPU-sized defaults for {flags}: {' '.join(args.workloads)}, {args.steps} timed "
          f"step(s) after {args.warmup}, eval batch {args.eval_batch}; {CPU_DEFAULTS_TIME} on 2 cores. "
          "Set those options for a longer run.", flush=True)


def bench_method(method: Method, args: argparse.Namespace, workdir: str, backbone: str) -> None:
    """Time every workload of ``method`` and print its table and the memory of one run."""
    filled = fill_device_defaults(args, method)
    if args.device == "cpu" and filled:
        announce_cpu_defaults(args, filled)
    workloads = usable_workloads(args, method)
    builds = variants(args, method, backbone)
    rows, train_peaks = [], []
    total_calls = len(workloads) * len(builds) * (args.steps + args.warmup)
    desc = f"{method.title}: timed and warm-up steps"
    with tqdm(total=total_calls, unit="step", desc=desc, file=sys.stderr) as progress:
        for workload in workloads:
            for label, switches in builds:
                reset_peak_memory(args.device)
                trainer = build_bench_trainer(workdir, workload, args.device, [*switches, *args.opts], method)
                figures = run_workload(trainer, workload, method, args, progress)
                name = workload.name if label == "ours" else f"  ({label})"
                rows.append([name, str(figures["batch"]), f"{figures['ms']:.1f}",
                             f"{figures['images_per_s']:.1f}", f"{figures['peak_mib']:.0f}"])
                if workload.kind == "train" and label == "ours":
                    train_peaks.append(figures["peak_mib"])
                text_length = getattr(getattr(trainer, "model", None), "text_length", "full")
                progress.write(f"{workload.name} [{label}]: {figures['ms']:.1f} ms, "
                               f"{figures['images_per_s']:.1f} img/s, text context {text_length}")
                del trainer
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"\n{method.title}, ViT-B/16 sizes, random weights, on {device_name}; "
          f"{args.steps} timed steps after {args.warmup}")
    print_table(rows, args.device)
    if train_peaks:
        print_run_memory(max(train_peaks), args.device)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but CUDA is not available here; use --device cpu.")
    names = list(METHODS) if args.method == "all" else [args.method]
    with tempfile.TemporaryDirectory() as workdir, shared_backbones(random_vit_b16), bench_templates():
        needs_file = any(not METHODS[name].shared_backbone for name in names)
        backbone = save_random_vit_b16(workdir) if needs_file else ""
        for name in names:
            bench_method(METHODS[name], copy.copy(args), workdir, backbone)


if __name__ == "__main__":
    run_cli(main)
