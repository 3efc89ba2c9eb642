"""Small file, JSON, image and seeding helpers shared by datasets, trainers and the engine."""
import contextlib
import difflib
import errno
import json
import os
import os.path as osp
import random
import uuid
import warnings
from typing import Any, Iterator, List, Sequence

import numpy as np
import PIL
import torch
from PIL import Image

from dassl.utils.errors import ConfigValueError, InputFileNotFoundError, UnreadableFileError


def mkdir_if_missing(dirname: str) -> None:
    """Create ``dirname`` (and parents); an existing directory is fine."""
    if not osp.exists(dirname):
        try:
            os.makedirs(dirname)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise


def check_isfile(fpath: str) -> bool:
    """True if ``fpath`` is a file; otherwise warn (so a missing file is visible) and return False."""
    isfile = osp.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"')
    return isfile


@contextlib.contextmanager
def atomic_path(fpath: str) -> Iterator[str]:
    """Yield a temporary path next to ``fpath``; on success it replaces ``fpath`` in one rename.

    Readers never see a half-written file, and an interrupted write leaves the old file intact.
    The caller creates the temporary file, so it gets the usual permissions (umask).
    """
    dirname = osp.dirname(osp.abspath(fpath))
    mkdir_if_missing(dirname)
    tmp = osp.join(dirname, f".{osp.basename(fpath)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, fpath)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def read_json(fpath: str) -> Any:
    with open(fpath, "r") as f:
        return json.load(f)


def write_json(obj: Any, fpath: str) -> None:
    """Write ``obj`` as indented JSON, atomically, creating the parent directory."""
    with atomic_path(fpath) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=4, separators=(",", ": "))


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def read_image(path: str) -> Image.Image:
    """Open an image as RGB; a missing or unreadable file raises an OSError naming it."""
    if not osp.exists(path):
        raise InputFileNotFoundError(f'No image at "{path}" (check DATASET.ROOT and the split files)')
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except Exception as e:
        raise UnreadableFileError(f'Cannot read image "{path}" ({type(e).__name__}: {e}); replace or remove this file') from e


def collect_env_info() -> str:
    """Torch's environment report plus the Pillow version."""
    from torch.utils.collect_env import get_pretty_env_info

    return get_pretty_env_info() + f"\n        Pillow ({PIL.__version__})"


def listdir_nohidden(path: str, sort: bool = False) -> List[str]:
    """List ``path`` without names starting with a dot."""
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    if sort:
        items.sort()
    return items


def get_most_similar_str_to_a_from_b(a: str, b: Sequence[str]) -> str:
    """The string in ``b`` closest to ``a`` by difflib ratio."""
    best, best_score = "", -1.0
    for candidate in b:
        score = difflib.SequenceMatcher(None, a, candidate).ratio()
        if score > best_score:
            best, best_score = candidate, score
    return best


def check_availability(requested: str, available: Sequence[str]) -> None:
    """Raise ValueError naming the choices (and the closest one) if ``requested`` is not available."""
    if requested not in available:
        closest = get_most_similar_str_to_a_from_b(requested, available)
        raise ConfigValueError(
            f'The requested one is expected to belong to {list(available)}, but got [{requested}] '
            f'(do you mean [{closest}]?)'
        )


def tolist_if_not(x: Any) -> list:
    """Wrap a single item in a list; lists pass through."""
    if not isinstance(x, list):
        x = [x]
    return x

