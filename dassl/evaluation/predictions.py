"""Per-image predictions of a final evaluation, kept so two methods can be compared image by image.

``predictions.npz`` holds two integer arrays in test-loader order (which is not shuffled, so every
run on a dataset and split sees the same images in the same order): ``target`` and ``pred``. Labels
are stored in the smallest unsigned type that fits and the file is compressed (ImageNet's 50,000
test images take well under a megabyte). tools/report.py bootstraps over these images when a
comparison has a single seed.
"""
import os.path as osp
from typing import Sequence, Tuple

import numpy as np

from dassl.utils import atomic_path

PREDICTIONS_FILE = "predictions.npz"


def _compact(labels: Sequence[int]) -> np.ndarray:
    array = np.asarray(labels, dtype=np.int64)
    if array.size and array.min() < 0:
        return array
    largest = int(array.max()) if array.size else 0
    for dtype in (np.uint8, np.uint16, np.uint32):
        if largest <= np.iinfo(dtype).max:
            return array.astype(dtype)
    return array


def write_predictions(output_dir: str, targets: Sequence[int], preds: Sequence[int]) -> str:
    """Atomically write ``output_dir/predictions.npz``; return its path."""
    if len(targets) != len(preds):
        raise ValueError(f"{len(targets)} targets but {len(preds)} predictions: they must pair image by image")
    fpath = osp.join(output_dir, PREDICTIONS_FILE)
    with atomic_path(fpath) as tmp:
        with open(tmp, "wb") as handle:  # a file object keeps numpy from appending ".npz" to the name
            np.savez_compressed(handle, target=_compact(targets), pred=_compact(preds))
    return fpath


def read_predictions(fpath: str) -> Tuple[np.ndarray, np.ndarray]:
    """(targets, predictions) as int64 arrays; no pickled objects are ever loaded."""
    with np.load(fpath, allow_pickle=False) as data:
        return data["target"].astype(np.int64), data["pred"].astype(np.int64)
