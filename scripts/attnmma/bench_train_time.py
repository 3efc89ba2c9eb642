"""Training time of the attention adapter (arXiv 2409.02958) per dataset, at the real sizes.

Under the reference protocol every image is encoded once, so a run costs (1) one pass of the frozen
ViT-B/16 over train + val + test, and (2) the adapter's epochs on stored 512-d embeddings. This measures
(2) exactly (16 shots of each base class, batch 256, Adam, scoring of the validation shots after every
epoch, then the base and new test sets), with random embeddings of the real shapes, and estimates (1)
from the measured throughput of a randomly initialised ViT-B/16. ``--literal`` also times one epoch of
the reference's literal computation (an (N+1)-token sequence per image through nn.MultiheadAttention).

    python scripts/attnmma/bench_train_time.py                  # all 11 datasets, CUDA if available
    python scripts/attnmma/bench_train_time.py --device cpu --datasets eurosat dtd --literal
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch
import torch.nn.functional as F

from clip.model import build_model
from dassl.utils.errors import add_debug_flag, run_cli
from tools.make_tiny_clip import VIT_B16_SIZES, make_state_dict
from tools.timing import time_calls
from trainers.attnmma.adapter import AttentionAdapter

# classes, base test images, new test images, and images to encode once (train + val + test of the
# full split; the few-shot runs encode far fewer) -- CoOp's split_zhou files.
DATASETS: Dict[str, Tuple[int, int, int]] = {
    "imagenet": (1000, 25000, 25000),
    "caltech101": (100, 1549, 916),
    "oxford_pets": (37, 1881, 1788),
    "stanford_cars": (196, 4002, 4039),
    "oxford_flowers": (102, 1053, 1410),
    "food101": (101, 15300, 15000),
    "fgvc_aircraft": (100, 1666, 1667),
    "sun397": (397, 9950, 9900),
    "dtd": (47, 864, 828),
    "eurosat": (10, 4200, 3900),
    "ucf101": (101, 1934, 1849),
}
SHOTS = 16
BATCH = 256
MAX_EPOCHS = 200


def timed(fn: Callable[[], None], device: torch.device, repeat: int) -> float:
    """Mean seconds of ``fn`` over ``repeat`` calls, after one warm-up call."""
    return time_calls(fn, steps=repeat, warmup=1, device=device)


def unit(n: int, device: torch.device, generator: torch.Generator) -> torch.Tensor:
    return F.normalize(torch.randn(n, 512, generator=generator), dim=-1).to(device)


def literal_logits(adapter: AttentionAdapter, text: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """The reference's computation: one (N+1, B, C) sequence, a full (N+1)^2 mask, all rows adapted."""
    n, b = text.shape[0], image.shape[0]
    seq = torch.cat([text.unsqueeze(1).expand(n, b, -1), image.unsqueeze(0)], dim=0)
    mask = torch.full((n + 1, n + 1), float("-inf"), device=text.device)
    mask[:n, n] = 0.0
    mask[n, :n] = 0.0
    out = adapter.upsampler(adapter.mha(*(adapter.downsampler(seq),) * 3, attn_mask=mask, need_weights=False)[0])
    lam = adapter.lam
    image_new = F.normalize(lam * F.normalize(out[n], dim=-1) + (1 - lam) * image, dim=-1)
    text_new = F.normalize(lam * F.normalize(out[:n], dim=-1) + (1 - lam) * text.unsqueeze(1), dim=-1)
    return adapter.scale * torch.einsum("bc,nbc->bn", image_new, text_new)


def train_epoch(forward: Callable, adapter: AttentionAdapter, optim: torch.optim.Optimizer, text: torch.Tensor,
                features: torch.Tensor, labels: torch.Tensor) -> None:
    order = torch.randperm(len(labels), device=labels.device)
    for start in range(0, len(labels), BATCH):
        index = order[start:start + BATCH]
        loss = F.cross_entropy(forward(adapter, text, features[index]), labels[index])
        optim.zero_grad()
        loss.backward()
        optim.step()


@torch.no_grad()
def score(adapter: AttentionAdapter, text: torch.Tensor, features: torch.Tensor) -> None:
    for start in range(0, len(features), BATCH):
        adapter(text, features[start:start + BATCH]).argmax(dim=1)


def encoder_throughput(device: torch.device, images: int) -> float:
    """Images per second of a random ViT-B/16 image tower (fp16 on CUDA, fp32 on CPU)."""
    model = build_model(make_state_dict("vit", VIT_B16_SIZES)).to(device).eval()
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    model.to(dtype)
    batch = torch.randn(images, 3, 224, 224, device=device, dtype=dtype)
    with torch.no_grad():
        seconds = timed(lambda: model.encode_image(batch), device, repeat=1)
    return images / seconds


def bench_dataset(name: str, device: torch.device, epochs: int, mask: str, literal: bool) -> Dict[str, float]:
    classes, base_test, new_test = DATASETS[name]
    base = classes - classes // 2
    generator = torch.Generator().manual_seed(0)
    text_base, text_new = unit(base, device, generator), unit(classes - base, device, generator)
    train = unit(SHOTS * base, device, generator)
    labels = torch.arange(base, device=device).repeat_interleave(SHOTS)
    val = unit(SHOTS * base, device, generator)
    adapter = AttentionAdapter(mask=mask).to(device)
    optim = torch.optim.Adam(adapter.parameters(), lr=5e-3, weight_decay=1e-4)

    def ours(a, t, x):
        return a(t, x)

    row = {
        "base": base,
        "epoch": timed(lambda: train_epoch(ours, adapter, optim, text_base, train, labels), device, epochs),
        "val": timed(lambda: score(adapter, text_base, val), device, 1),
        "test": timed(lambda: score(adapter, text_base, unit(base_test, device, generator)), device, 1)
        + timed(lambda: score(adapter, text_new, unit(new_test, device, generator)), device, 1),
    }
    if literal:
        row["literal_epoch"] = timed(
            lambda: train_epoch(literal_logits, adapter, optim, text_base, train, labels), device, 1
        )
    return row


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per dataset (after one warm-up)")
    parser.add_argument("--mask", default="cross_only", help="cross_only | additive_float_reference | none")
    parser.add_argument("--literal", action="store_true", help="also time the reference's literal computation")
    parser.add_argument("--encode-images", type=int, default=8,
                        help="images in the encoder throughput probe (0: skip the probe)")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"Attention adapter (mask {args.mask}), stored ViT-B/16 embeddings, batch {BATCH}, on {where}")
    throughput = encoder_throughput(device, args.encode_images) if args.encode_images > 0 else None
    if throughput:
        print(f"ViT-B/16 image encoder: {throughput:.1f} images/s (one pass over each split, once per dataset)")
    header = ["dataset", "base", "train", "epoch s", "val s", f"{MAX_EPOCHS} ep. s", "test s", "encode 16+16 s"]
    if args.literal:
        header += ["literal epoch s", "speed-up"]
    rows: List[List[str]] = []
    for name in args.datasets:
        r = bench_dataset(name, device, args.epochs, args.mask, args.literal)
        encode = f"{(2 * SHOTS * r['base'] + sum(DATASETS[name][1:])) / throughput:.0f}" if throughput else "n/a"
        cells = [name, str(r["base"]), str(SHOTS * r["base"]), f"{r['epoch']:.3f}", f"{r['val']:.3f}",
                 f"{MAX_EPOCHS * (r['epoch'] + r['val']):.1f}", f"{r['test']:.2f}", encode]
        if args.literal:
            cells += [f"{r['literal_epoch']:.3f}", f"{r['literal_epoch'] / r['epoch']:.1f}x"]
        rows.append(cells)
        print("  done: " + name, file=sys.stderr)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    print(f"'{MAX_EPOCHS} ep.' is the reference's epoch cap (train + val per epoch); early stopping usually "
          "ends far sooner. 'encode' is the one-time pass over the 16+16 shots and the base and new test sets.")


if __name__ == "__main__":
    run_cli(main)
