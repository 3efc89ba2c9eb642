"""Tiny CLIPs made by open_clip itself, and a Hugging Face hub cache laid out as huggingface_hub lays it."""
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

import open_clip
import torch
from safetensors.torch import save_file

REVISION = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class TinySpec:
    """One tiny open_clip model: its config, its registry entry and how the hub serves its weights."""

    name: str
    tag: str
    quick_gelu: bool
    context_length: int
    text_heads: int
    head_width: int
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    filename: str
    logit_scale: float
    layers: int = 2
    nonscalar_logit_scale: bool = False

    @property
    def repo(self) -> str:
        return f"tinyorg/{self.name.lower()}"

    def model_config(self) -> dict:
        config = {
            "embed_dim": 32,
            "vision_cfg": {"image_size": 32, "layers": self.layers, "width": 64, "head_width": self.head_width,
                           "patch_size": 8},
            "text_cfg": {"context_length": self.context_length, "vocab_size": 49408, "width": 64,
                         "heads": self.text_heads, "layers": self.layers},
        }
        if self.nonscalar_logit_scale:
            config["nonscalar_logit_scale"] = True
        return config

    def pretrained_entry(self) -> dict:
        # the tag carries the activation, as open_clip's registry does for QuickGELU trainings
        return {"url": "", "hf_hub": f"{self.repo}/", "mean": self.mean, "std": self.std,
                "interpolation": "bicubic", "resize_mode": "shortest", "quick_gelu": self.quick_gelu}


TINY_SPECS = (
    TinySpec("TinyTest-QuickGELU", "tinyquick", quick_gelu=True, context_length=16, text_heads=2, head_width=32,
             mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), filename="open_clip_model.safetensors", logit_scale=3.0),
    TinySpec("TinyTest-GELU", "tinygelu", quick_gelu=False, context_length=24, text_heads=4, head_width=16,
             mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), filename="open_clip_pytorch_model.bin", logit_scale=2.5,
             layers=12, nonscalar_logit_scale=True),
)


def register_configs(folder: Path) -> None:
    """Add the tiny model configs to open_clip's own registry of architectures."""
    folder.mkdir(parents=True, exist_ok=True)
    for spec in TINY_SPECS:
        (folder / f"{spec.name}.json").write_text(json.dumps(spec.model_config()))
    open_clip.add_model_config(folder)


def pretrained_lookup(original):
    """open_clip.get_pretrained_cfg with the tiny tags added."""
    entries: Dict[Tuple[str, str], dict] = {(spec.name, spec.tag): spec.pretrained_entry() for spec in TINY_SPECS}

    def lookup(model: str, tag: str) -> dict:
        return entries.get((model, tag)) or original(model, tag)

    return lookup


def make_open_clip_model(spec: TinySpec, seed: int = 0) -> torch.nn.Module:
    """open_clip's own model for the spec (random init), with a logit scale of the spec's."""
    torch.manual_seed(seed)
    model = open_clip.create_model(spec.name, force_quick_gelu=spec.quick_gelu)
    with torch.no_grad():
        model.logit_scale.fill_(spec.logit_scale)
    return model.eval()


def served_bytes(spec: TinySpec, model: torch.nn.Module, tmp: Path) -> bytes:
    """The state dict as the hub serves it: safetensors or a torch.save pickle."""
    state_dict = {key: value.contiguous().clone() for key, value in model.state_dict().items()}
    if spec.filename.endswith(".safetensors"):
        path = tmp / "weights.safetensors"
        save_file(state_dict, str(path))
        return path.read_bytes()
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.getvalue()


def put_in_hub_cache(cache: Path, repo: str, filename: str, data: bytes) -> Path:
    """models--org--name/{blobs/<sha256>, snapshots/<rev>/<file> -> blob, refs/main}; returns the snapshot."""
    root = cache / f"models--{repo.replace('/', '--')}"
    blob = root / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    snapshot = root / "snapshots" / REVISION / filename
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(REVISION)
    return snapshot
