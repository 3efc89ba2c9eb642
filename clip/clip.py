"""The `clip` API that CoOp-family trainers import: models, weights, tokenizer, preprocessing."""
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from PIL import Image
from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

from dassl.utils.errors import ConfigKeyError, ConfigValueError

from . import hub
from .backbones import CLIP_MEAN, CLIP_STD, Backbone, describe, open_clip_catalogue
from .model import CLIP, build_model, set_architecture
from .simple_tokenizer import SimpleTokenizer
from .weights import (SOURCES, BadWeightsError, backbone_weights, cache_root, download_url, expected_sha256,
                      read_state_dict, resolve_weights, sha256_of, source_for_url)

__all__ = ["available_models", "load", "tokenize", "build_model"]


class _ModelTable(dict):
    """Model name -> official URL; a path to an existing file maps to itself.

    That lets trainer code written for OpenAI's package (`_download(_MODELS[name])`) take a local
    checkpoint path as the backbone name.
    """

    def __missing__(self, key: str) -> str:
        if isinstance(key, (str, os.PathLike)) and os.path.isfile(key):
            return str(key)
        raise ConfigKeyError(f"unknown CLIP model {key!r}: use one of {list(self)} or the path of an existing "
                             f"checkpoint file")


_MODELS = _ModelTable({name: f"https://openaipublic.azureedge.net/clip/models/{source.official_path}"
                       for name, source in SOURCES.items()})

_tokenizer = SimpleTokenizer()


def available_models() -> List[str]:
    """OpenAI's names, then every `model:tag` of open_clip's registry that this CLIP can express
    (`load("ViT-B-16:laion2b_s34b_b88k")` equals `load("ViT-B-16", pretrained="laion2b_s34b_b88k")`)."""
    return list(_MODELS) + [f"{entry.model}:{entry.tag}" for entry in open_clip_catalogue() if not entry.problems]


def _download(url: str, root: Optional[str] = None) -> str:
    """A local file for `url` that torch.jit.load or torch.load reads, fetched into the cache if needed.

    An official model URL goes through the full resolution (cache, hub copy, official host; see
    clip.weights), so it may return a converted hub copy (a plain OpenAI-layout state dict).
    """
    if os.path.isfile(url):
        return url
    source = source_for_url(url)
    if source is not None:
        return str(resolve_weights(source, root))
    target = cache_root(root) / os.path.basename(url)
    sha256 = expected_sha256(url)
    if target.is_file() and (sha256 is None or sha256_of(target) == sha256):
        return str(target)
    return str(download_url(url, target, sha256))


def _convert_image_to_rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB")


def _transform(n_px: int, mean: Sequence[float] = CLIP_MEAN,
               std: Sequence[float] = CLIP_STD) -> Callable[[Image.Image], torch.Tensor]:
    """CLIP's test-time preprocessing: bicubic resize of the short side, centre crop, normalise
    (with OpenAI's constants unless the backbone was trained with others)."""
    return Compose([
        Resize(n_px, interpolation=InterpolationMode.BICUBIC),
        CenterCrop(n_px),
        _convert_image_to_rgb,
        ToTensor(),
        Normalize(mean, std),
    ])


def _state_dict(backbone: Backbone, download_root: Optional[str]) -> Dict[str, torch.Tensor]:
    """The OpenAI-layout weights of `backbone`, wherever they are (clip.weights)."""
    if backbone.tag:
        path = backbone_weights(backbone, download_root)
        return read_state_dict(path, hub.expected_sha256(path), keep_dtype=True)
    if backbone.name in SOURCES:
        return read_state_dict(_download(_MODELS[backbone.name], download_root))
    return read_state_dict(backbone.name)


def _check_sizes(model: CLIP, backbone: Backbone) -> None:
    """The weights must have the image size and context length open_clip's config gives."""
    found = {"image size": model.visual.input_resolution, "context length": model.context_length}
    wanted = {"image size": backbone.image_size, "context length": backbone.context_length}
    wrong = [f"{what} {found[what]} (the config says {wanted[what]})" for what in found
             if wanted[what] is not None and wanted[what] != found[what]]
    if wrong:
        raise BadWeightsError(f"the weights of {backbone.label} do not fit open_clip's model config: "
                              f"{', '.join(wrong)}; check that MODEL.BACKBONE.NAME and PRETRAINED belong together")


def load(name: Union[str, Path], device: Union[str, torch.device] = "cuda" if torch.cuda.is_available() else "cpu",
         jit: bool = False, download_root: Optional[str] = None,
         builder: Callable[[Dict[str, torch.Tensor]], CLIP] = build_model,
         pretrained: Optional[str] = None) -> Tuple[CLIP, Callable]:
    """Build a released CLIP (by name), one of open_clip's pretrained backbones (`name` in open_clip's
    spelling, `pretrained` its tag or a weights file) or a local checkpoint (by path); returns
    (model, preprocess), the preprocessing normalising as the backbone was trained.

    On the CPU the model is cast to fp32, as OpenAI's `load` does; elsewhere it keeps the checkpoint's
    dtype (fp16 for OpenAI's releases). `builder` turns the OpenAI-layout state dict into the model.
    """
    if jit:
        raise ConfigValueError("jit=True (OpenAI's TorchScript model) is not supported: this package always builds "
                               "its own model, with the same numbers; call load(..., jit=False)")
    backbone = describe(str(name), pretrained, tuple(SOURCES))
    model = builder(_state_dict(backbone, download_root))
    set_architecture(model, backbone.activation, backbone.vision_heads, backbone.text_heads)
    _check_sizes(model, backbone)
    model = model.to(device)
    if str(device) == "cpu":
        model.float()
    return model, _transform(model.visual.input_resolution, backbone.mean, backbone.std)


def tokenize(texts: Union[str, List[str]], context_length: int = 77, truncate: bool = False) -> torch.LongTensor:
    """Token ids [n, context_length]: start token, text, end token, zero padding.

    A text longer than the context raises, naming the text, unless `truncate` is set, in which case it
    is cut and its last kept token replaced by the end token.
    """
    if isinstance(texts, str):
        texts = [texts]
    result = torch.zeros(len(texts), context_length, dtype=torch.long)
    for row, text in enumerate(texts):
        tokens = [_tokenizer.sot_token] + _tokenizer.encode(text) + [_tokenizer.eot_token]
        if len(tokens) > context_length:
            if not truncate:
                raise RuntimeError(f"Input {text!r} is too long for context length {context_length} "
                                   f"({len(tokens)} tokens with start/end); shorten it or pass truncate=True")
            tokens = tokens[:context_length]
            tokens[-1] = _tokenizer.eot_token
        result[row, : len(tokens)] = torch.tensor(tokens)
    return result
