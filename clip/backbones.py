"""Which backbone a name means: OpenAI's releases, checkpoint files, and open_clip's pretrained tags.

open_clip publishes many CLIPs of OpenAI's architecture trained on other data (LAION-2B, DataComp,
DFN, MetaCLIP, ...). Its registry names them `(model, tag)`, e.g. `("ViT-B-16", "laion2b_s34b_b88k")`,
and its model config gives what the weights' shapes do not show: the activation (QuickGELU or GELU),
the attention heads, the context length and image size; the tag adds the weights' location (hub
repository, file, URL), the normalisation constants and whether it was trained with QuickGELU.
`describe` reads both into a `Backbone`; a config our OpenAI-layout CLIP cannot express is refused,
naming the feature. open_clip is imported only for open_clip names (its import takes seconds).
"""
import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from dassl.utils.errors import FrameworkError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
OPENAI_TAG = "openai"
OPENAI_VOCAB_SIZE = 49408
SAFE_WEIGHTS = "open_clip_model.safetensors"
PICKLED_WEIGHTS = "open_clip_pytorch_model.bin"

# Keys of open_clip's model config our CLIP follows; any other key must keep open_clip's default.
_FOLLOWED = {
    "": {"embed_dim", "vision_cfg", "text_cfg", "quick_gelu", "custom_text", "init_logit_scale",
         "nonscalar_logit_scale"},
    "vision_cfg": {"layers", "width", "head_width", "patch_size", "image_size", "patch_dropout"},
    "text_cfg": {"context_length", "vocab_size", "width", "heads", "layers"},
}
# Features worth a plain name in the error.
_FEATURES = {
    ("vision_cfg", "timm_model_name"): "a timm image tower",
    ("text_cfg", "hf_model_name"): "a Hugging Face text tower",
    ("text_cfg", "hf_tokenizer_name"): "a Hugging Face tokenizer",
    ("", "init_logit_bias"): "SigLIP's sigmoid head (a logit bias)",
    ("", "multimodal_cfg"): "CoCa's captioning decoder",
}


class UnknownBackboneError(FrameworkError, ValueError):
    """The name (or tag) is neither an OpenAI release, an existing file, nor in open_clip's registry."""


class UnsupportedBackboneError(FrameworkError, ValueError):
    """open_clip knows the backbone, but its architecture is not OpenAI's CLIP."""


@dataclass(frozen=True)
class Backbone:
    """One loadable CLIP: where its weights are and the settings its state dict does not show."""

    name: str
    tag: str = ""
    activation: str = "quick_gelu"
    vision_heads: Optional[int] = None
    text_heads: Optional[int] = None
    image_size: Optional[int] = None
    context_length: Optional[int] = None
    mean: Tuple[float, float, float] = CLIP_MEAN
    std: Tuple[float, float, float] = CLIP_STD
    hub_repo: str = ""
    hub_files: Tuple[str, ...] = ()
    url: str = ""
    file: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.tag})" if self.tag else self.name


def _open_clip():
    import open_clip  # here: importing it takes seconds, and only open_clip names need it

    return open_clip


def _defaults(section: str) -> Dict[str, Any]:
    if not section:
        return {}
    open_clip = _open_clip()
    config_class = open_clip.CLIPVisionCfg if section == "vision_cfg" else open_clip.CLIPTextCfg
    return {field.name: field.default for field in dataclasses.fields(config_class)}


def unsupported_features(model_config: Mapping[str, Any]) -> List[str]:
    """What in open_clip's model config our OpenAI-layout CLIP cannot express (empty: it can)."""
    found = []
    for section in ("", "vision_cfg", "text_cfg"):
        values = model_config if not section else model_config.get(section, {})
        defaults = _defaults(section)
        for key, value in values.items():
            named = _FEATURES.get((section, key))
            if named is not None and value:
                found.append(f"{named} ({section + '.' if section else ''}{key}={value!r})")
            elif key not in _FOLLOWED[section] and value not in (None, False) and value != defaults.get(key):
                found.append(f"{section + '.' if section else ''}{key}={value!r}")
    vision, text = model_config.get("vision_cfg", {}), model_config.get("text_cfg", {})
    if text.get("vocab_size", OPENAI_VOCAB_SIZE) != OPENAI_VOCAB_SIZE and not text.get("hf_tokenizer_name"):
        found.append(f"a vocabulary of {text['vocab_size']} tokens (OpenAI's tokenizer has {OPENAI_VOCAB_SIZE})")
    if isinstance(vision.get("image_size"), (list, tuple)) and len(set(vision["image_size"])) > 1:
        found.append(f"non-square images (vision_cfg.image_size={vision['image_size']})")
    if isinstance(vision.get("layers"), (list, tuple)) and vision.get("head_width", 64) != 64:
        found.append(f"a ResNet attention pool with head width {vision['head_width']} (ours uses 64)")
    return found


def _square(size: Any) -> int:
    return int(size[0]) if isinstance(size, (list, tuple)) else int(size)


def _hub_location(hub: str) -> Tuple[str, Tuple[str, ...]]:
    """open_clip's `org/name/` (default files) or `org/name/file`; the safetensors twin is tried first."""
    repo, filename = os.path.split(hub)
    if not filename or filename == PICKLED_WEIGHTS:
        return repo, (SAFE_WEIGHTS, PICKLED_WEIGHTS)
    if filename.endswith((".bin", ".pth")):
        return repo, (filename[:-4] + ".safetensors", filename)
    return repo, (filename,)


def from_open_clip_config(name: str, tag: str, model_config: Mapping[str, Any],
                          pretrained: Mapping[str, Any]) -> Backbone:
    """The Backbone for open_clip's `model_config` and the tag's `pretrained` entry (or {} for a file)."""
    problems = unsupported_features(model_config)
    if problems:
        raise UnsupportedBackboneError(
            f"open_clip's {name} ({tag}) cannot be loaded into this project's CLIP (OpenAI's architecture): "
            f"it uses {'; '.join(problems)}. Pick a backbone of OpenAI's architecture "
            f"(python -m tools.list_backbones lists them).")
    vision, text = model_config["vision_cfg"], model_config["text_cfg"]
    quick_gelu = bool(model_config.get("quick_gelu") or pretrained.get("quick_gelu"))
    is_resnet = isinstance(vision.get("layers"), (list, tuple))
    repo, files = _hub_location(pretrained.get("hf_hub", "")) if pretrained.get("hf_hub") else ("", ())
    return Backbone(
        name=name, tag=tag, activation="quick_gelu" if quick_gelu else "gelu",
        vision_heads=None if is_resnet else vision.get("width", 768) // vision.get("head_width", 64),
        text_heads=text.get("heads", 8), image_size=_square(vision.get("image_size", 224)),
        context_length=text.get("context_length", 77),
        mean=tuple(pretrained.get("mean", CLIP_MEAN)), std=tuple(pretrained.get("std", CLIP_STD)),
        hub_repo=repo, hub_files=files, url=pretrained.get("url", ""), file=pretrained.get("file", ""))


def open_clip_name(name: str) -> str:
    """OpenAI's spelling (`ViT-B/16`) to open_clip's (`ViT-B-16`), as open_clip's factory does."""
    return name.replace("/", "-")


def describe(name: str, pretrained: Optional[str] = None, openai_names: Tuple[str, ...] = ()) -> Backbone:
    """The backbone `name` (an OpenAI name, a checkpoint path, or open_clip's model name) with
    open_clip's tag `pretrained` (or a weights file for that model). `name:tag` is accepted too."""
    name, tag = str(name), str(pretrained or "")
    if not tag and ":" in name and not os.path.exists(name):
        name, tag = name.rsplit(":", 1)
    if os.path.isfile(name) or (name in openai_names and tag in ("", OPENAI_TAG)):
        return Backbone(name=name)
    open_clip = _open_clip()
    model = open_clip_name(name)
    model_config = open_clip.get_model_config(model)
    if model_config is None:
        raise UnknownBackboneError(
            f"unknown CLIP backbone {name!r}: use an OpenAI name ({', '.join(openai_names)}), an open_clip "
            f"model name with a tag (python -m tools.list_backbones lists them), or the path of a checkpoint file")
    if not tag:
        raise UnknownBackboneError(
            f"open_clip's {model} needs a pretrained tag (MODEL.BACKBONE.PRETRAINED, or pretrained= in "
            f"clip.load): one of {open_clip.list_pretrained_tags_by_model(model) or 'none published'}")
    if os.path.isfile(tag):
        return dataclasses.replace(from_open_clip_config(model, tag, model_config, {}), file=tag)
    entry = open_clip.get_pretrained_cfg(model, tag)
    if not entry:
        raise UnknownBackboneError(
            f"open_clip has no pretrained tag {tag!r} for {model}: use one of "
            f"{open_clip.list_pretrained_tags_by_model(model) or 'none published'}, or the path of a weights file")
    return from_open_clip_config(model, tag, model_config, entry)


def clip_sizes(model_config: Mapping[str, Any]) -> Dict[str, Any]:
    """The keyword arguments of our `clip.model.CLIP` for open_clip's model config (its sizes)."""
    vision, text = model_config["vision_cfg"], model_config["text_cfg"]
    layers = vision.get("layers", 12)
    return dict(embed_dim=model_config["embed_dim"], image_resolution=_square(vision.get("image_size", 224)),
                vision_layers=tuple(layers) if isinstance(layers, (list, tuple)) else layers,
                vision_width=vision.get("width", 768),
                vision_patch_size=None if isinstance(layers, (list, tuple)) else vision.get("patch_size", 16),
                context_length=text.get("context_length", 77), vocab_size=text.get("vocab_size", OPENAI_VOCAB_SIZE),
                transformer_width=text.get("width", 512), transformer_heads=text.get("heads", 8),
                transformer_layers=text.get("layers", 12))


@dataclass(frozen=True)
class CatalogueEntry:
    """One (model, tag) of open_clip's registry: its Backbone and sizes, or why it cannot be loaded."""

    model: str
    tag: str
    problems: Tuple[str, ...]
    backbone: Optional[Backbone] = None
    sizes: Optional[Dict[str, Any]] = None


def open_clip_catalogue() -> List[CatalogueEntry]:
    """Every (model, tag) of open_clip's registry, in its order."""
    open_clip = _open_clip()
    entries = []
    for model, tag in open_clip.list_pretrained():
        config = open_clip.get_model_config(model)
        problems = ("no model config",) if config is None else tuple(unsupported_features(config))
        if problems:
            entries.append(CatalogueEntry(model, tag, problems))
            continue
        backbone = from_open_clip_config(model, tag, config, open_clip.get_pretrained_cfg(model, tag))
        entries.append(CatalogueEntry(model, tag, (), backbone, clip_sizes(config)))
    return entries
