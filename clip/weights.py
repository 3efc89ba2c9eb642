"""Finding OpenAI's CLIP weights: local cache, Hugging Face hub copy, official URL.

OpenAI's download host answers 404 since 2025-10, so a model name is resolved in this order (an
explicit checkpoint path never gets here: `clip.load` and `clip._download` use it as it is):
1. the local cache (`download_root`, else `$CLIP_CACHE_DIR`, else `~/.cache/clip`): the official file
   (checked against the SHA256 in its URL), then a hub copy converted earlier, then a hub file put
   there by hand;
2. the Hugging Face hub copy of the same weights that open_clip uses (`timm/<arch>_clip_<res>.openai`,
   file `open_clip_model.safetensors`, endpoint `$CLIP_HF_ENDPOINT`), converted to OpenAI's key
   layout and cached as a plain state dict under its own name (`<file>-openai-hf.pt`);
3. the official URL (base overridable with `$CLIP_OFFICIAL_URL_BASE`), checked against its SHA256.
Every download goes to a temporary file in the cache folder and is renamed only when complete.
"""
import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

import torch
from tqdm import tqdm

from dassl.utils.errors import FrameworkError

from .model import CLIP, config_from_state_dict

OFFICIAL_URL_BASE = "https://openaipublic.azureedge.net/clip/models"
HUB_FILENAME = "open_clip_model.safetensors"
HUB_SUFFIX = "-openai-hf"
CACHE_ENV = "CLIP_CACHE_DIR"
HUB_ENDPOINT_ENV = "CLIP_HF_ENDPOINT"
URL_BASE_ENV = "CLIP_OFFICIAL_URL_BASE"
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
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


def cache_root(download_root: Optional[Union[str, Path]] = None) -> Path:
    """The cache folder: `download_root`, else `$CLIP_CACHE_DIR`, else `~/.cache/clip`."""
    if download_root is not None:
        return Path(download_root).expanduser()
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "clip").expanduser()


def official_url(source: ModelSource) -> str:
    base = os.environ.get(URL_BASE_ENV) or OFFICIAL_URL_BASE
    return f"{base.rstrip('/')}/{source.official_path}"


def hub_endpoint() -> str:
    return (os.environ.get(HUB_ENDPOINT_ENV) or os.environ.get("HF_ENDPOINT") or DEFAULT_HUB_ENDPOINT).rstrip("/")


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


def hub_to_openai_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Convert an open_clip-format CLIP state dict to OpenAI's layout.

    open_clip saves either OpenAI's keys or, for its custom-text models, the text tower under `text.`;
    checkpoints written from a wrapped model carry a `module.` prefix; `logit_scale` may be 1-d.
    Keys OpenAI's model does not have (`logit_bias`, `attn_mask`, `*.position_ids`) are dropped.
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
        converted[key] = _as_release_dtype(value)
    with torch.device("meta"):
        expected = list(CLIP(**vars(config_from_state_dict(converted))).state_dict())
    if set(converted) != set(expected):
        missing, unexpected = sorted(set(expected) - set(converted)), sorted(set(converted) - set(expected))
        raise ValueError(f"cannot convert this state dict to OpenAI's CLIP layout: missing keys {missing[:5]}, "
                         f"unexpected keys {unexpected[:5]}; expected an open_clip checkpoint of an OpenAI model")
    return {key: converted[key] for key in expected}


def is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives are zip files with a `code/` folder; torch.save files have none."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist())


def read_state_dict(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """An OpenAI-layout state dict from a TorchScript archive, a torch.save file or a .safetensors file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file  # here: its import costs every run 0.15 s

        return hub_to_openai_state_dict(load_file(str(path)))
    if is_torchscript_archive(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            archive = torch.jit.load(str(path), map_location="cpu").state_dict()
        return {key: value for key, value in archive.items() if not key.endswith("attn_mask")}
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(loaded, Mapping) and "state_dict" in loaded:
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{path} holds a {type(loaded).__name__}, not a CLIP state dict or TorchScript archive")
    if "text_projection" in loaded:
        return dict(loaded)
    return hub_to_openai_state_dict(loaded)


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


def _from_hub(source: ModelSource, root: Path) -> Path:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ConnectionError("HF_HUB_OFFLINE is set")
    offline = _unreachable(hub_endpoint() + "/")
    if offline is not None:
        raise ConnectionError(offline)
    from huggingface_hub import hf_hub_download  # here, not at the top: its import costs every run 0.2 s

    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".hub-") as staging:
        raw = hf_hub_download(source.hub_repo, HUB_FILENAME, local_dir=staging, endpoint=hub_endpoint())
        state_dict = read_state_dict(raw)
        target = root / source.converted_filename
        atomic_torch_save(state_dict, target)
    return target


def _no_weights_message(source: ModelSource, root: Path, tried: List[str]) -> str:
    lines = "\n".join(f"  - {attempt}" for attempt in tried)
    return (f"Could not get the weights of CLIP {source.name}. Sources tried:\n{lines}\n"
            f"To fix it by hand, on a machine with network access download either\n"
            f"  {DEFAULT_HUB_ENDPOINT}/{source.hub_repo}/resolve/main/{HUB_FILENAME}\n"
            f"  and save it as {root / source.manual_hub_filename}, or\n"
            f"  {OFFICIAL_URL_BASE}/{source.official_path}\n"
            f"  and save it as {root / source.filename};\n"
            f"or pass the path of a local checkpoint instead of the model name "
            f"(also as MODEL.BACKBONE.NAME).")


def resolve_weights(source: ModelSource, download_root: Optional[Union[str, Path]] = None) -> Path:
    """A local file holding `source`'s weights: from the cache, else the hub, else the official URL."""
    root = cache_root(download_root)
    tried: List[str] = []
    cached = _cached(source, root, tried)
    if cached is not None:
        return cached
    try:
        return _from_hub(source, root)
    except Exception as error:  # any hub failure (offline, HTTP, bad file) falls through to the next source
        tried.append(f"Hugging Face hub {hub_endpoint()}/{source.hub_repo} ({HUB_FILENAME}): "
                     f"{type(error).__name__}: {error}")
    url = official_url(source)
    try:
        return download_url(url, root / source.filename, source.sha256)
    except (OSError, http.client.HTTPException, ValueError, ChecksumError) as error:
        tried.append(f"official URL {url}: {type(error).__name__}: {error}")
    raise WeightsNotFoundError(_no_weights_message(source, root, tried))
