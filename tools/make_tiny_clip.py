"""Random CLIP state dicts in OpenAI's released layout, for tests and demos without downloads.

The keys and shapes are written out here from the release's layout (not taken from clip.model), so a
model that loads them proves it matches that layout.

    python -m tools.make_tiny_clip --arch vit --out tiny_vit.pt
"""
import argparse
import math
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import torch

if __package__ in (None, ""):  # run as `python tools/make_tiny_clip.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clip.weights import atomic_torch_save  # noqa: E402
from dassl.utils.errors import add_debug_flag, run_cli  # noqa: E402

StateDict = Dict[str, torch.Tensor]

VIT_B16_SIZES = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                     vision_patch_size=16, context_length=77, vocab_size=49408, transformer_width=512,
                     transformer_layers=12)
TINY_VIT_SIZES = dict(embed_dim=64, image_resolution=32, vision_layers=2, vision_width=128, vision_patch_size=8,
                      context_length=77, vocab_size=49408, transformer_width=64, transformer_layers=2)
TINY_RN_SIZES = dict(embed_dim=64, image_resolution=64, vision_layers=(1, 2, 1, 1), vision_width=16,
                     vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=64,
                     transformer_layers=2)


class _Filler:
    """Draws every tensor from one seeded generator, so a seed fixes the whole state dict."""

    def __init__(self, seed: int, device: Union[str, torch.device]):
        self.device = torch.device(device)
        self.generator = None if self.device.type == "meta" else torch.Generator().manual_seed(seed)

    def normal(self, *shape: int, std: float = 1.0, mean: float = 0.0) -> torch.Tensor:
        if self.generator is None:
            return torch.empty(shape, device=self.device)
        return torch.randn(shape, generator=self.generator) * std + mean

    def weight(self, *shape: int) -> torch.Tensor:
        """A layer weight scaled by 1/sqrt(fan_in) so activations stay of order one."""
        return self.normal(*shape, std=math.prod(shape[1:]) ** -0.5)

    def positive(self, *shape: int) -> torch.Tensor:
        if self.generator is None:
            return torch.empty(shape, device=self.device)
        return torch.rand(shape, generator=self.generator) + 0.5


def _layer_norm(fill: _Filler, prefix: str, width: int) -> StateDict:
    return {f"{prefix}.weight": fill.normal(width, std=0.1, mean=1.0), f"{prefix}.bias": fill.normal(width, std=0.1)}


def _batch_norm(fill: _Filler, prefix: str, width: int) -> StateDict:
    return {
        f"{prefix}.weight": fill.normal(width, std=0.1, mean=1.0),
        f"{prefix}.bias": fill.normal(width, std=0.1),
        f"{prefix}.running_mean": fill.normal(width, std=0.1),
        f"{prefix}.running_var": fill.positive(width),
        f"{prefix}.num_batches_tracked": torch.zeros((), dtype=torch.long, device=fill.device),
    }


def _transformer(fill: _Filler, prefix: str, width: int, layers: int) -> StateDict:
    state: StateDict = {}
    for index in range(layers):
        block = f"{prefix}.resblocks.{index}"
        state.update({
            f"{block}.attn.in_proj_weight": fill.weight(3 * width, width),
            f"{block}.attn.in_proj_bias": fill.normal(3 * width, std=0.02),
            f"{block}.attn.out_proj.weight": fill.weight(width, width),
            f"{block}.attn.out_proj.bias": fill.normal(width, std=0.02),
        })
        state.update(_layer_norm(fill, f"{block}.ln_1", width))
        state.update({
            f"{block}.mlp.c_fc.weight": fill.weight(4 * width, width),
            f"{block}.mlp.c_fc.bias": fill.normal(4 * width, std=0.02),
            f"{block}.mlp.c_proj.weight": fill.weight(width, 4 * width),
            f"{block}.mlp.c_proj.bias": fill.normal(width, std=0.02),
        })
        state.update(_layer_norm(fill, f"{block}.ln_2", width))
    return state


def _vit_tower(fill: _Filler, embed_dim: int, resolution: int, layers: int, width: int, patch: int) -> StateDict:
    grid = resolution // patch
    state = {
        "visual.class_embedding": fill.normal(width, std=width ** -0.5),
        "visual.positional_embedding": fill.normal(grid * grid + 1, width, std=width ** -0.5),
        "visual.proj": fill.weight(width, embed_dim),
        "visual.conv1.weight": fill.weight(width, 3, patch, patch),
    }
    state.update(_layer_norm(fill, "visual.ln_pre", width))
    state.update(_transformer(fill, "visual.transformer", width, layers))
    state.update(_layer_norm(fill, "visual.ln_post", width))
    return state


def _resnet_tower(fill: _Filler, embed_dim: int, resolution: int, layers: Sequence[int], width: int) -> StateDict:
    state: StateDict = {}
    stem = [(width // 2, 3), (width // 2, width // 2), (width, width // 2)]
    for index, (out_channels, in_channels) in enumerate(stem, start=1):
        state[f"visual.conv{index}.weight"] = fill.weight(out_channels, in_channels, 3, 3)
        state.update(_batch_norm(fill, f"visual.bn{index}", out_channels))
    inplanes = width
    for stage, blocks in enumerate(layers, start=1):
        planes = width * 2 ** (stage - 1)
        for index in range(blocks):
            block = f"visual.layer{stage}.{index}"
            stride = 2 if stage > 1 and index == 0 else 1
            state[f"{block}.conv1.weight"] = fill.weight(planes, inplanes, 1, 1)
            state.update(_batch_norm(fill, f"{block}.bn1", planes))
            state[f"{block}.conv2.weight"] = fill.weight(planes, planes, 3, 3)
            state.update(_batch_norm(fill, f"{block}.bn2", planes))
            state[f"{block}.conv3.weight"] = fill.weight(planes * 4, planes, 1, 1)
            state.update(_batch_norm(fill, f"{block}.bn3", planes * 4))
            if stride > 1 or inplanes != planes * 4:
                state[f"{block}.downsample.0.weight"] = fill.weight(planes * 4, inplanes, 1, 1)
                state.update(_batch_norm(fill, f"{block}.downsample.1", planes * 4))
            inplanes = planes * 4
    pooled = width * 32
    spatial = resolution // 32
    state["visual.attnpool.positional_embedding"] = fill.normal(spatial ** 2 + 1, pooled, std=pooled ** -0.5)
    for name in ("k_proj", "q_proj", "v_proj"):
        state[f"visual.attnpool.{name}.weight"] = fill.weight(pooled, pooled)
        state[f"visual.attnpool.{name}.bias"] = fill.normal(pooled, std=0.02)
    state["visual.attnpool.c_proj.weight"] = fill.weight(embed_dim, pooled)
    state["visual.attnpool.c_proj.bias"] = fill.normal(embed_dim, std=0.02)
    return state


def make_state_dict(arch: str = "vit", sizes: Optional[dict] = None, seed: int = 0,
                    dtype: torch.dtype = torch.float16, device: Union[str, torch.device] = "cpu") -> StateDict:
    """A random CLIP state dict in OpenAI's layout; `sizes` overrides TINY_VIT_SIZES / TINY_RN_SIZES.

    `dtype` applies to floating tensors (the release stores fp16); `device="meta"` gives shapes only.
    """
    if arch not in ("vit", "rn"):
        raise ValueError(f"arch must be 'vit' or 'rn', got {arch!r}")
    config = dict(TINY_VIT_SIZES if arch == "vit" else TINY_RN_SIZES, **(sizes or {}))
    fill = _Filler(seed, device)
    embed_dim, text_width = config["embed_dim"], config["transformer_width"]
    state: StateDict = {
        "positional_embedding": fill.normal(config["context_length"], text_width, std=0.01),
        "text_projection": fill.weight(text_width, embed_dim),
        "logit_scale": torch.tensor(math.log(100.0), device=fill.device),
    }
    if arch == "vit":
        state.update(_vit_tower(fill, embed_dim, config["image_resolution"], config["vision_layers"],
                                config["vision_width"], config["vision_patch_size"]))
    else:
        state.update(_resnet_tower(fill, embed_dim, config["image_resolution"], config["vision_layers"],
                                   config["vision_width"]))
    state.update(_transformer(fill, "transformer", text_width, config["transformer_layers"]))
    state["token_embedding.weight"] = fill.normal(config["vocab_size"], text_width, std=0.02)
    state.update(_layer_norm(fill, "ln_final", text_width))
    return {key: value.to(dtype) if value.is_floating_point() else value for key, value in state.items()}


def save_state_dict(state_dict: StateDict, path: Union[str, Path]) -> Path:
    """torch.save to a temporary file next to `path`, then rename, so `path` is never half written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(state_dict, path)
    return path


def _parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", choices=("vit", "rn"), default="vit", help="image tower")
    parser.add_argument("--out", required=True, help="where to write the state dict (.pt)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fp32", action="store_true", help="store fp32 instead of the release's fp16")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = _parse_args(argv)
    state = make_state_dict(args.arch, seed=args.seed, dtype=torch.float32 if args.fp32 else torch.float16)
    path = save_state_dict(state, args.out)
    print(f"wrote a random {args.arch} CLIP ({len(state)} tensors) to {path}")


if __name__ == "__main__":
    run_cli(main)
