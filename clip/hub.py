"""The Hugging Face hub cache, as huggingface_hub defines it, shared with open_clip and timm.

A file fetched once by any of them (`~/.cache/huggingface/hub/models--org--name/snapshots/<rev>/file`)
is found here without network. The folder and offline mode follow huggingface_hub's variables, read
when a file is wanted (not when a module is imported, so a test or a shell can change them):
`HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
`~/.cache/huggingface/hub`; `HF_HUB_OFFLINE=1` uses the cache and never the network.
A large (LFS) file is stored as `blobs/<its SHA256>`, so a cached copy is checked against its name.
"""
import os
import re
from pathlib import Path
from typing import Optional

ENDPOINT_ENV = "CLIP_HF_ENDPOINT"
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = ("1", "true", "yes", "on")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def cache_dir() -> Path:
    """huggingface_hub's cache folder for the current environment."""
    explicit = os.environ.get("HF_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if not home:
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def endpoint() -> str:
    return (os.environ.get(ENDPOINT_ENV) or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def file_url(repo: str, filename: str) -> str:
    return f"{DEFAULT_ENDPOINT}/{repo}/resolve/main/{filename}"


def expected_sha256(path: Path) -> Optional[str]:
    """The SHA256 a cached LFS file must have: its blob's name (small git files carry a SHA1)."""
    name = Path(os.path.realpath(path)).name
    return name if _SHA256.match(name) else None


def cached_file(repo: str, filename: str, revision: Optional[str] = None) -> Optional[Path]:
    """The cached snapshot of `repo`'s `filename` (at `revision`, default main), or None."""
    from huggingface_hub import try_to_load_from_cache  # here: its import costs every run 0.2 s

    found = try_to_load_from_cache(repo, filename, cache_dir=str(cache_dir()), revision=revision)
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def download(repo: str, filename: str, revision: Optional[str] = None) -> Path:
    """Fetch `repo`'s `filename` into the hub cache (huggingface_hub checks size and hash) and return it."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo, filename, revision=revision, cache_dir=str(cache_dir()), endpoint=endpoint()))
