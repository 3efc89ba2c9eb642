"""The `clip` API that CoOp-family trainers import: models, weights, tokenizer, preprocessing."""
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch
from PIL import Image
from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

from dassl.utils.errors import ConfigKeyError, ConfigValueError

from .model import CLIP, build_model
from .simple_tokenizer import SimpleTokenizer
from .weights import (SOURCES, WeightsNotFoundError, cache_root, download_url, expected_sha256, read_state_dict,
                      resolve_weights, sha256_of, source_for_url)

__all__ = ["available_models", "load", "tokenize", "build_model"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


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
    return list(_MODELS)


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


def _transform(n_px: int) -> Callable[[Image.Image], torch.Tensor]:
    """CLIP's test-time preprocessing: bicubic resize of the short side, centre crop, normalise."""
    return Compose([
        Resize(n_px, interpolation=InterpolationMode.BICUBIC),
        CenterCrop(n_px),
        _convert_image_to_rgb,
        ToTensor(),
        Normalize(CLIP_MEAN, CLIP_STD),
    ])


def load(name: Union[str, Path], device: Union[str, torch.device] = "cuda" if torch.cuda.is_available() else "cpu",
         jit: bool = False, download_root: Optional[str] = None,
         builder: Callable[[Dict[str, torch.Tensor]], CLIP] = build_model) -> Tuple[CLIP, Callable]:
    """Build a released CLIP (by name) or a local checkpoint (by path); returns (model, preprocess).

    On the CPU the model is cast to fp32, as OpenAI's `load` does; elsewhere it keeps the fp16 weights.
    `builder` turns the OpenAI-layout state dict into the model (default `build_model`).
    """
    if jit:
        raise ConfigValueError("jit=True (OpenAI's TorchScript model) is not supported: this package always builds "
                               "its own model, with the same numbers; call load(..., jit=False)")
    if str(name) in SOURCES:
        path = _download(_MODELS[str(name)], download_root)
    elif os.path.isfile(name):
        path = str(name)
    else:
        raise WeightsNotFoundError(f"Model {name} not found: use one of {available_models()} or the path of an "
                                   f"existing checkpoint file")
    model = builder(read_state_dict(path)).to(device)
    if str(device) == "cpu":
        model.float()
    return model, _transform(model.visual.input_resolution)


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
