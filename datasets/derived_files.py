"""The files a reader derives and caches: split JSONs it had to build, few-shot pickles, preprocessed.pkl.

They live in the dataset folder, where CoOp keeps them (``<dataset>/split_fewshot/shot_K-seed_S.pkl``),
so existing caches are reused. Two things differ from CoOp, both to avoid crashes users hit:
- a dataset folder that cannot be written (a read-only mount) is fine: the file then goes to
  ``OUTPUT_DIR/dataset_cache/<dataset folder>/...`` with a message, and is looked for there next time;
- a cached pickle is checked before use: one that cannot be read, lacks a split, or lists images that
  no longer exist (DATASET.ROOT moved, files deleted) is ignored with a warning and rebuilt, instead of
  failing later inside a data-loader worker.
"""
import os
import pickle
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

from dassl.data.datasets import Datum
from dassl.utils import atomic_path, write_json
from dassl.utils.caching import NO_CACHE_ENV, disk_caches_enabled
from dassl.utils.safe_load import UnsafeFileError, load_pickle_file


FALLBACK_FOLDER = "dataset_cache"
MAX_CHECKED_PER_SPLIT = 1000


class DerivedFiles:
    """Reads and writes one dataset's derived files, falling back to the output folder when needed."""

    def __init__(self, dataset: str, dataset_dir: str, output_dir: str):
        self.dataset = dataset
        self.dataset_dir = dataset_dir
        self.fallback_dir = os.path.join(os.path.abspath(output_dir), FALLBACK_FOLDER, os.path.basename(dataset_dir))

    def candidates(self, relative: str) -> List[str]:
        """Existing copies of ``relative``: the dataset folder's first, then the fallback."""
        paths = [os.path.join(self.dataset_dir, relative), os.path.join(self.fallback_dir, relative)]
        return [path for path in paths if os.path.isfile(path)]

    def write(self, relative: str, write_to: Callable[[str], None], what: str) -> Optional[str]:
        """Write atomically into the dataset folder, or into the fallback if that fails; return the path
        (None when MMA_NO_CACHE turns the caches off: nothing is written)."""
        if not disk_caches_enabled():
            print(f"Not saving the {what} ({NO_CACHE_ENV} is set)")
            return None
        primary = os.path.join(self.dataset_dir, relative)
        try:
            with atomic_path(primary) as tmp:
                write_to(tmp)
            return primary
        except OSError as err:
            fallback = os.path.join(self.fallback_dir, relative)
            print(
                f"Cannot write the {what} to {primary} ({err.strerror or err}); the dataset folder is "
                f"not writable, so it goes to {fallback} (under OUTPUT_DIR) instead."
            )
            with atomic_path(fallback) as tmp:
                write_to(tmp)
            return fallback

    def write_json(self, relative: str, obj: Any, what: str) -> Optional[str]:
        return self.write(relative, lambda tmp: write_json(obj, tmp), what)

    def write_pickle(self, relative: str, obj: Any, what: str) -> Optional[str]:
        """Pickle ``obj`` with its items' paths relative to the dataset folder, so a copied or moved
        data root reads its own images."""
        portable = map_item_paths(obj, lambda path: relative_to(path, self.dataset_dir))

        def dump(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                pickle.dump(portable, handle, protocol=pickle.HIGHEST_PROTOCOL)

        return self.write(relative, dump, what)

    def load_pickle(self, relative: str, problem_of: Callable[[Any], Optional[str]]) -> Optional[Tuple[Any, str]]:
        """The first usable cached copy and its path, or None; unusable copies are reported and skipped."""
        for path in self.candidates(relative):
            try:
                obj = load_pickle_file(path, f"{self.dataset} split cache")
            except UnsafeFileError:
                raise
            except Exception as err:  # a truncated or foreign pickle must not stop the run: it is rebuilt
                problem = f"cannot be read ({type(err).__name__}: {err})"
            else:
                obj = map_item_paths(obj, lambda stored: rooted_in(stored, self.dataset_dir))
                problem = problem_of(obj)
            if problem is None:
                return obj, path
            print(f"WARNING: {self.dataset}: ignoring the cached {path}: it {problem}. It will be rebuilt.")
        return None


def map_item_paths(obj: Any, change: Callable[[str], str]) -> Any:
    """A {split: [Datum]} dict with every item's path passed through ``change`` (other values kept)."""
    if not isinstance(obj, dict):
        return obj
    return {
        key: [item.with_impath(change(item.impath)) if isinstance(item, Datum) else item for item in value]
        if isinstance(value, list) else value
        for key, value in obj.items()
    }


def relative_to(path: str, dataset_dir: str) -> str:
    """``path`` relative to the dataset folder when it lies inside it, else unchanged."""
    absolute, folder = os.path.abspath(path), os.path.abspath(dataset_dir)
    return os.path.relpath(absolute, folder) if absolute.startswith(folder + os.sep) else path


def rooted_in(stored: str, dataset_dir: str) -> str:
    """The path of a cached item under the current dataset folder.

    Relative paths (this version's caches) join the folder. Absolute ones (CoOp's caches, or a data
    root copied from elsewhere) are re-rooted after the last ``/<dataset folder name>/`` in them, so
    the images of the folder DATASET.ROOT names are read, not those of the original location.
    """
    if not os.path.isabs(stored):
        return os.path.join(dataset_dir, stored)
    marker = os.sep + os.path.basename(os.path.normpath(dataset_dir)) + os.sep
    cut = stored.rfind(marker)
    if cut < 0:
        return stored
    return os.path.join(dataset_dir, stored[cut + len(marker):])


def splits_problem(obj: Any, keys: Sequence[str], check_every_file: bool = True) -> Optional[str]:
    """Why a cached {split name: [Datum]} dict cannot be used, or None if it can.

    With ``check_every_file`` every image path is checked; otherwise up to 1000 evenly spaced ones per
    split, enough to notice a moved DATASET.ROOT in ImageNet's 1.3M-image preprocessed.pkl.
    """
    if not isinstance(obj, dict) or any(not isinstance(obj.get(key), list) for key in keys):
        return f"does not hold the splits {list(keys)}"
    for key in keys:
        items = obj[key]
        if not items:
            return f"holds an empty {key!r} split"
        if not all(hasattr(item, "impath") and hasattr(item, "label") for item in items):
            return f"holds something other than Datum items in {key!r}"
        checked = items if check_every_file else items[:: max(1, len(items) // MAX_CHECKED_PER_SPLIT)]
        gone = _missing_paths(item.impath for item in checked)
        if gone:
            return (
                f"lists {len(gone):,} image(s) in {key!r} that no longer exist (e.g. {gone[0]}); "
                f"the dataset was probably moved or re-extracted"
            )
    return None


def _missing_paths(paths: Iterable[str]) -> List[str]:
    return [path for path in paths if not os.path.isfile(path)]


def fewshot_splits(reader: Any, files: DerivedFiles, num_shots: int, seed: int,
                   train: list, val: Optional[list] = None) -> Tuple[list, Optional[list]]:
    """K-shot train (and min(K, 4)-shot val) lists, from ``split_fewshot/shot_K-seed_S.pkl`` or freshly drawn.

    The draw order is CoOp's: all of train first, then val, with Python's ``random``. ImageNet passes
    no val (its val is the test set) and its pickle holds only "train".
    """
    if num_shots < 1:
        return train, val
    relative = os.path.join("split_fewshot", f"shot_{num_shots}-seed_{seed}.pkl")
    keys = ("train",) if val is None else ("train", "val")
    found = files.load_pickle(relative, lambda obj: splits_problem(obj, keys))
    if found is not None:
        data, path = found
        print(f"Loading preprocessed few-shot data from {path}")
        return data["train"], data.get("val", val)
    train = reader.generate_fewshot_dataset(train, num_shots=num_shots)
    data = {"train": train}
    if val is not None:
        val = reader.generate_fewshot_dataset(val, num_shots=min(num_shots, 4))
        data["val"] = val
    path = files.write_pickle(relative, data, "few-shot split")
    if path:
        print(f"Saving preprocessed few-shot data to {path}")
    return train, val
