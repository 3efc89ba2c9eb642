"""Decode each image once per run and keep it in memory (DATALOADER.CACHE_DECODED and
DATALOADER.TEST.CACHE_DECODED; docs/SPEED.md).

Few-shot training reads the same few thousand files every epoch, and a benchmark table evaluates
the same test set once per seed: decoding them again is most of the data cost. A store keeps, per
file, the decoded RGB pixels after an optional deterministic head of the pipeline (the test
pipeline's resize and centre crop), so what a loader produces from it is exactly what it would
produce from the file. Random augmentation still runs per sample on the kept image.

Each loader has its own store, or, inside a ``shared_decoded_images()`` block, loaders share one
per head. A store is filled in the main process by a thread pool (JPEG decoding and resizing
release the GIL) when its loader starts a pass, so forked loader workers share it instead of
decoding their own copies.
"""
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import torchvision.transforms as T
from PIL import Image

from dassl.utils import read_image

Transform = Callable[[Image.Image], Image.Image]
DETERMINISTIC_HEAD_STEPS = (T.Resize, T.CenterCrop)


def split_deterministic_head(tfm: Optional[Callable]) -> Tuple[Optional[T.Compose], Optional[Callable]]:
    """Split a pipeline into its leading resize / centre-crop steps (same output for a file at every
    call, so they can be kept) and the rest; a non-Compose pipeline has no head."""
    if not isinstance(tfm, T.Compose):
        return None, tfm
    steps = list(tfm.transforms)
    n_head = 0
    while n_head < len(steps) and isinstance(steps[n_head], DETERMINISTIC_HEAD_STEPS):
        n_head += 1
    head = T.Compose(steps[:n_head]) if n_head else None
    return head, T.Compose(steps[n_head:])


class DecodedImages:
    """RGB pixels (uint8 HxWx3 arrays) per image path, after the optional deterministic ``head``."""

    def __init__(self, head: Optional[Transform] = None) -> None:
        self.head = head
        self._pixels: Dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._pixels)

    def __contains__(self, path: str) -> bool:
        return path in self._pixels

    @property
    def nbytes(self) -> int:
        return sum(pixels.nbytes for pixels in self._pixels.values())

    def _decode(self, path: str) -> np.ndarray:
        img = read_image(path)
        if self.head is not None:
            img = self.head(img)
        return np.asarray(img)

    def add(self, paths: Iterable[str], what: str = "", threads: Optional[int] = None) -> int:
        """Decode the paths not kept yet, in parallel threads; return how many were decoded (and
        print it, with the memory held, when there were any)."""
        missing: List[str] = list(dict.fromkeys(p for p in paths if p not in self._pixels))
        if not missing:
            return 0
        start = time.time()
        threads = threads or min(32, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for path, pixels in zip(missing, pool.map(self._decode, missing)):
                self._pixels[path] = pixels
        print(
            f"Decoded {len(missing)} {what} images into memory in {time.time() - start:.1f} s "
            f"({len(self)} held, {self.nbytes / 2 ** 20:.0f} MiB)"
        )
        return len(missing)

    def image(self, path: str) -> Image.Image:
        """The kept image of ``path`` (decoded now if it was not added)."""
        pixels = self._pixels.get(path)
        if pixels is None:
            pixels = self._pixels[path] = self._decode(path)
        return Image.fromarray(pixels)


_shared_stores: Optional[Dict[str, DecodedImages]] = None


def decoded_images_for(head: Optional[Transform] = None) -> DecodedImages:
    """A store for ``head``: a fresh one (freed with its loader), or inside
    :func:`shared_decoded_images` the block's one store per distinct head."""
    if _shared_stores is None:
        return DecodedImages(head)
    key = repr(head)
    if key not in _shared_stores:
        _shared_stores[key] = DecodedImages(head)
    return _shared_stores[key]


@contextmanager
def shared_decoded_images() -> Iterator[None]:
    """Within this block, every loader built with a decoded-image cache uses one store per head, so
    that runs in one process (tools/run_table.py) decode a file once; the stores go at the end."""
    global _shared_stores
    outer, _shared_stores = _shared_stores, {}
    try:
        yield
    finally:
        _shared_stores = outer
