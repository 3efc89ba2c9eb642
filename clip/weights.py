"""Finding CLIP weights: local cache, Hugging Face hub (its cache first), official URL.

OpenAI's download host answers 404 since 2025-10, so a model name is resolved in this order (an
explicit checkpoint path never gets here: `clip.load` and `clip._download` use it as it is):
1. the local cache (`download_root`, else `$CLIP_CACHE_DIR`, else `~/.cache/clip`): the official file
   (checked against the SHA256 in its URL), then a hub copy converted earlier, then a hub file put
   there by hand;
2. the Hugging Face hub copy of the same weights that open_clip uses (`timm/<arch>_clip_<res>.openai`,
   file `open_clip_model.safetensors`): from huggingface_hub's own cache (clip.hub), else downloaded
   into it (endpoint `$CLIP_HF_ENDPOINT`) unless `HF_HUB_OFFLINE` is set; converted to OpenAI's key
   layout and cached as a plain state dict under its own name (`<file>-openai-hf.pt`);
3. the official URL (base overridable with `$CLIP_OFFICIAL_URL_BASE`), checked against its SHA256.
open_clip's other pretrained tags (clip.backbones) come from the hub the same way, read in place.
Every download goes to a temporary file in the cache folder and is renamed only when complete. A file
that cannot be read is reported with its name, its expected SHA256 when known, and how to replace it.
"""
import hashlib
import http.client
import os
import pickle
import re
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from tqdm import tqdm

from dassl.utils.errors import FrameworkError

from . import hub
from .backbones import Backbone
from .model import CLIP, config_from_state_dict

OFFICIAL_URL_BASE = "https://openaipublic.azureedge.net/clip/models"
HUB_FILENAME = "open_clip_model.safetensors"
HUB_SUFFIX = "-openai-hf"
CACHE_ENV = "CLIP_CACHE_DIR"
URL_BASE_ENV = "CLIP_OFFICIAL_URL_BASE"
DEFAULT_HUB_ENDPOINT = hub.DEFAULT_ENDPOINT
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelSource:
    """Where one released model lives: its official file (SHA256/filename) and its hub copy."""

    name: str
    sha256: str
    filename: str
    hub_repo: str

    @property
    def official_path(self) -> str:
        return f"{self.sha256}/{self.filename}"

    @property
    def converted_filename(self) -> str:
        return f"{Path(self.filename).stem}{HUB_SUFFIX}.pt"

    @property
    def manual_hub_filename(self) -> str:
        return f"{Path(self.filename).stem}{HUB_SUFFIX}.safetensors"


SOURCES: Dict[str, ModelSource] = {source.name: source for source in (
    ModelSource("RN50", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", "RN50.pt",
                "timm/resnet50_clip.openai"),
    ModelSource("RN101", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599", "RN101.pt",
                "timm/resnet101_clip.openai"),
    ModelSource("RN50x4", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd", "RN50x4.pt",
                "timm/resnet50x4_clip.openai"),
    ModelSource("RN50x16", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa", "RN50x16.pt",
                "timm/resnet50x16_clip.openai"),
    ModelSource("RN50x64", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c", "RN50x64.pt",
                "timm/resnet50x64_clip.openai"),
    ModelSource("ViT-B/32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "ViT-B-32.pt",
                "timm/vit_base_patch32_clip_224.openai"),
    ModelSource("ViT-B/16", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f", "ViT-B-16.pt",
                "timm/vit_base_patch16_clip_224.openai"),
    ModelSource("ViT-L/14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", "ViT-L-14.pt",
                "timm/vit_large_patch14_clip_224.openai"),
    ModelSource("ViT-L/14@336px", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
                "ViT-L-14-336px.pt", "timm/vit_large_patch14_clip_336.openai"),
)}


class WeightsNotFoundError(FrameworkError, RuntimeError):
    """No source could provide a model's weights; the message says what was tried and the fix."""


class ChecksumError(FrameworkError, RuntimeError):
    """A downloaded file does not match the SHA256 published in its URL."""


class BadWeightsError(FrameworkError, ValueError):
    """A weights file is empty, truncated or not weights; the message names it and how to replace it."""


def cache_root(download_root: Optional[Union[str, Path]] = None) -> Path:
    """The cache folder: `download_root`, else `$CLIP_CACHE_DIR`, else `~/.cache/clip`."""
    if download_root is not None:
        return Path(download_root).expanduser()
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "clip").expanduser()


def official_url(source: ModelSource) -> str:
    base = os.environ.get(URL_BASE_ENV) or OFFICIAL_URL_BASE
    return f"{base.rstrip('/')}/{source.official_path}"


def source_for_url(url: str) -> Optional[ModelSource]:
    """The model whose official URL ends like `url` (so a URL with an overridden base still matches)."""
    for source in SOURCES.values():
        if url.endswith(source.official_path):
            return source
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expected_sha256(url: str) -> Optional[str]:
    """OpenAI's URLs carry the file's SHA256 as the folder name before the file."""
    parts = url.rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and _SHA256.match(parts[-2]) else None


def atomic_torch_save(obj: object, target: Path) -> None:
    """torch.save to a temporary file beside ``target``, then rename: ``target`` is never half written."""
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    try:
        torch.save(obj, temp)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def download_url(url: str, target: Path, sha256: Optional[str] = None, timeout: float = 30.0) -> Path:
    """Stream `url` into `target` through a temporary file, with a progress bar and an optional SHA256 check.

    Nothing is left at `target` (or next to it) unless the transfer is complete and the hash matches.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    digest = hashlib.sha256()
    received = 0
    try:
        with os.fdopen(handle, "wb") as output, urllib.request.urlopen(url, timeout=timeout) as response:
            expected_size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=expected_size, unit="iB", unit_scale=True, unit_divisor=1024,
                      desc=target.name) as progress:
                try:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        output.write(block)
                        digest.update(block)
                        received += len(block)
                        progress.update(len(block))
                except http.client.IncompleteRead as error:
                    received += len(error.partial)
        if expected_size is not None and received != expected_size:
            raise ConnectionError(f"transfer of {url} stopped after {received} of {expected_size} bytes; "
                                  f"nothing was saved, try again")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ChecksumError(f"{url} downloaded, but its SHA256 is {digest.hexdigest()} instead of {sha256} "
                                f"(corrupted transfer or wrong file); nothing was saved, try again")
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return target


def _strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    if state_dict and all(key.startswith(prefix) for key in state_dict):
        return {key[len(prefix):]: value for key, value in state_dict.items()}
    return dict(state_dict)


def _as_release_dtype(tensor: torch.Tensor) -> torch.Tensor:
    """fp16, as in the release, when that loses nothing (the hub copies were made from fp16 weights)."""
    if tensor.is_floating_point() and tensor.dtype != torch.float16:
        half = tensor.half()
        if torch.equal(half.to(tensor.dtype), tensor):
            return half
    return tensor


def hub_to_openai_state_dict(state_dict: Mapping[str, torch.Tensor],
                             keep_dtype: bool = False) -> Dict[str, torch.Tensor]:
    """Convert an open_clip-format CLIP state dict to OpenAI's layout.

    open_clip saves either OpenAI's keys or, for its custom-text models, the text tower under `text.`;
    checkpoints written from a wrapped model carry a `module.` prefix; `logit_scale` may be 1-d.
    Keys OpenAI's model does not have (`logit_bias`, `attn_mask`, `*.position_ids`) are dropped.
    Tensors become fp16 where that is exact (OpenAI's hub copies were made from fp16 weights) unless
    `keep_dtype` (weights trained in fp32 keep every bit).
    """
    weights = _strip_prefix(state_dict, "module.")
    converted: Dict[str, torch.Tensor] = {}
    for key, value in weights.items():
        if key.startswith("text."):
            key = key[len("text."):]
        if key == "logit_bias" or key.endswith("attn_mask") or key.endswith("position_ids"):
            continue
        if key == "logit_scale":
            value = value.reshape(())
        converted[key] = value if keep_dtype else _as_release_dtype(value)
    with torch.device("meta"):
        expected = list(CLIP(**vars(config_from_state_dict(converted))).state_dict())
    if set(converted) != set(expected):
        missing, unexpected = sorted(set(expected) - set(converted)), sorted(set(converted) - set(expected))
        raise BadWeightsError(f"cannot convert this state dict to OpenAI's CLIP layout: missing keys {missing[:5]}, "
                              f"unexpected keys {unexpected[:5]}; expected an open_clip checkpoint of an OpenAI model")
    return {key: converted[key] for key in expected}


def is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives are zip files with a `code/` folder; torch.save files have none."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist())


def _read_raw(path: Path) -> object:
    """What the file holds, read without running code: safetensors, TorchScript weights or torch.load."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file  # here: its import costs every run 0.15 s

        return load_file(str(path))
    if is_torchscript_archive(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            archive = torch.jit.load(str(path), map_location="cpu").state_dict()
        return {key: value for key, value in archive.items() if not key.endswith("attn_mask")}
    return torch.load(path, map_location="cpu", weights_only=True)


def _why_unreadable(error: Exception) -> str:
    """The reader's complaint in one line (torch's own text would advise unsafe loading; it is not kept)."""
    text = str(error)
    if isinstance(error, pickle.UnpicklingError):
        detail = text.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation", 1)[0]
        return f"not a PyTorch tensor file ({' '.join(detail.split()) or 'unreadable pickle'})"
    if isinstance(error, EOFError):
        return "the file ends before its contents do"
    first = text.split(". ", 1)[0].strip().splitlines()
    return f"{type(error).__name__}: {first[0] if first else 'unreadable'}"


def damaged_file_message(path: Path, problem: str, expected_sha256: Optional[str] = None) -> str:
    """Names a bad weights file, its expected SHA256 when known, and how to get a good copy."""
    size = path.stat().st_size if path.exists() else 0
    lines = [f"The CLIP weights file {path} cannot be used: {problem} ({'empty' if not size else f'{size} bytes'})."]
    if expected_sha256 is not None:
        lines.append(f"The published file has SHA256 {expected_sha256}; this one has {sha256_of(path)}.")
    stored = Path(os.path.realpath(path))
    delete = f"{path} and {stored}" if stored != path.absolute() else str(path)
    lines.append(f"It is probably an interrupted or damaged download or a file of another kind: delete {delete} "
                 f"and load again to fetch a fresh copy, or give the path of a good file.")
    return "\n".join(lines)


def read_state_dict(path: Union[str, Path], expected_sha256: Optional[str] = None,
                    keep_dtype: bool = False) -> Dict[str, torch.Tensor]:
    """An OpenAI-layout state dict from a TorchScript archive, a torch.save file or a .safetensors file.

    A file that cannot be read raises BadWeightsError naming it (with `expected_sha256`, when the
    caller knows it, and the file's own) and how to replace it. `keep_dtype` as in hub_to_openai_state_dict.
    """
    path = Path(path)
    try:
        loaded = _read_raw(path)
    except Exception as error:  # every reader has its own error types; all mean "not a readable file"
        raise BadWeightsError(damaged_file_message(path, _why_unreadable(error), expected_sha256)) from None
    if isinstance(loaded, Mapping) and "state_dict" in loaded:
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise BadWeightsError(damaged_file_message(
            path, f"it holds a {type(loaded).__name__}, not a CLIP state dict or TorchScript archive", expected_sha256))
    if "text_projection" in loaded and path.suffix != ".safetensors":
        return dict(loaded)
    return hub_to_openai_state_dict(loaded, keep_dtype=keep_dtype)


def _cached(source: ModelSource, root: Path, tried: List[str]) -> Optional[Path]:
    official = root / source.filename
    if official.is_file():
        actual = sha256_of(official)
        if actual == source.sha256:
            return official
        warnings.warn(f"{official} has SHA256 {actual}, not the released {source.sha256}; ignoring it")
        tried.append(f"cache {official}: SHA256 mismatch")
    converted = root / source.converted_filename
    if converted.is_file():
        return converted
    manual = root / source.manual_hub_filename
    if manual.is_file():
        atomic_torch_save(read_state_dict(manual), converted)
        return converted
    tried.append(f"cache {root}: none of {source.filename}, {source.converted_filename}, "
                 f"{source.manual_hub_filename}")
    return None


def _unreachable(url: str, timeout: float = 10.0) -> Optional[str]:
    """Why `url`'s host cannot be reached, or None when it answers (any HTTP status counts as an answer).

    huggingface_hub retries a failed connection for about 25 s; this probe fails fast when offline.
    """
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None
    except (OSError, http.client.HTTPException, ValueError) as error:
        return f"cannot reach {url}: {error}"
    return None


def _checked_hub_file(path: Path) -> Path:
    """A hub cache file whose content matches the SHA256 its blob is named after."""
    expected = hub.expected_sha256(path)
    if expected is not None and sha256_of(path) != expected:
        raise BadWeightsError(damaged_file_message(path, "its content does not match its SHA256", expected))
    return path


def hub_file(repo: str, filenames: Tuple[str, ...], tried: List[str]) -> Optional[Path]:
    """The first of `filenames` in hub `repo`: from the hub cache, else downloaded into it (not when
    HF_HUB_OFFLINE is set); checked against its SHA256. Failed attempts are appended to `tried`."""
    for filename in filenames:
        cached = hub.cached_file(repo, filename)
        if cached is not None:
            return _checked_hub_file(cached)
    names = " or ".join(filenames)
    if hub.offline():
        tried.append(f"Hugging Face hub cache {hub.cache_dir()}: no {names} of {repo}; "
                     f"HF_HUB_OFFLINE is set, so nothing was downloaded")
        return None
    tried.append(f"Hugging Face hub cache {hub.cache_dir()}: no {names} of {repo}")
    unreachable = _unreachable(hub.endpoint() + "/")
    if unreachable is not None:
        tried.append(f"Hugging Face hub {hub.endpoint()}/{repo}: {unreachable}")
        return None
    for filename in filenames:
        try:
            return _checked_hub_file(hub.download(repo, filename))
        except BadWeightsError:
            raise
        except Exception as error:  # any hub failure (HTTP, missing file) moves on to the next file or source
            tried.append(f"Hugging Face hub {hub.endpoint()}/{repo} ({filename}): {type(error).__name__}: {error}")
    return None


def _from_hub(source: ModelSource, root: Path, tried: List[str]) -> Optional[Path]:
    raw = hub_file(source.hub_repo, (HUB_FILENAME,), tried)
    if raw is None:
        return None
    root.mkdir(parents=True, exist_ok=True)
    target = root / source.converted_filename
    atomic_torch_save(read_state_dict(raw, hub.expected_sha256(raw)), target)
    return target


def _no_weights_message(source: ModelSource, root: Path, tried: List[str]) -> str:
    lines = "\n".join(f"  - {attempt}" for attempt in tried)
    return (f"Could not get the weights of CLIP {source.name}. Sources tried:\n{lines}\n"
            f"To fix it by hand, on a machine with network access download either\n"
            f"  {hub.file_url(source.hub_repo, HUB_FILENAME)}\n"
            f"  and save it as {root / source.manual_hub_filename}, or\n"
            f"  {OFFICIAL_URL_BASE}/{source.official_path}\n"
            f"  and save it as {root / source.filename};\n"
            f"or pass the path of a local checkpoint instead of the model name "
            f"(also as MODEL.BACKBONE.NAME).")


def resolve_weights(source: ModelSource, download_root: Optional[Union[str, Path]] = None) -> Path:
    """A local file holding `source`'s weights: from the cache, else the hub, else the official URL."""
    root = cache_root(download_root)
    tried: List[str] = []
    found = _cached(source, root, tried) or _from_hub(source, root, tried)
    if found is not None:
        return found
    url = official_url(source)
    try:
        return download_url(url, root / source.filename, source.sha256)
    except (OSError, http.client.HTTPException, ValueError, ChecksumError) as error:
        tried.append(f"official URL {url}: {type(error).__name__}: {error}")
    raise WeightsNotFoundError(_no_weights_message(source, root, tried))


def backbone_weights(backbone: Backbone, download_root: Optional[Union[str, Path]] = None) -> Path:
    """The weights file of one of open_clip's pretrained tags (clip.backbones): a given file, OpenAI's
    release through `resolve_weights`, else the tag's hub repository (its cache first)."""
    if backbone.file:
        return Path(backbone.file)
    source = source_for_url(backbone.url) if backbone.url else None
    if source is not None:
        return resolve_weights(source, download_root)
    tried: List[str] = []
    found = hub_file(backbone.hub_repo, backbone.hub_files, tried) if backbone.hub_repo else None
    if found is not None:
        return found
    lines = "\n".join(f"  - {attempt}" for attempt in tried) or "  - open_clip lists no hub repository for it"
    first = backbone.hub_files[0] if backbone.hub_files else HUB_FILENAME
    raise WeightsNotFoundError(
        f"Could not get the weights of CLIP {backbone.label}. Sources tried:\n{lines}\n"
        f"To fix it by hand, on a machine with network access run\n"
        f"  huggingface-cli download {backbone.hub_repo} {first}\n"
        f"and copy the folder it fills (models--{backbone.hub_repo.replace('/', '--')} under the hub cache) into "
        f"{hub.cache_dir()}; or download {hub.file_url(backbone.hub_repo, first)} and give its path as "
        f"MODEL.BACKBONE.PRETRAINED (clip.load(..., pretrained=PATH)).")
