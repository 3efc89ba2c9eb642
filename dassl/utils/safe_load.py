"""Loading data files without running code from them.

Every checkpoint, resumable state and cache goes through ``load_torch_file`` (``torch.load`` with
``weights_only=True`` plus the few classes the reference Dassl/CoOp checkpoints legitimately pickle),
and every pickled split through ``load_pickle_file`` (an unpickler that admits ``Datum`` and plain
containers). A file holding anything else is refused with its path and the type found. Full
unpickling happens only when the user sets ``MMA_TRUST_PICKLES=1`` for files they trust.
"""
from __future__ import annotations

import collections
import os
import pickle
import re
import warnings
from typing import Any, BinaryIO, FrozenSet, Iterable, List, Optional, Tuple

import torch

from .errors import FrameworkError

TRUST_PICKLES_ENV = "MMA_TRUST_PICKLES"

# What the reference Dassl / CoOp checkpoints pickle: a warmup scheduler's successor object with its
# optimizer (and MultiStepLR's Counter of milestones, the optimizer state's defaultdict).
REFERENCE_CHECKPOINT_CLASSES: Tuple[type, ...] = (
    torch.optim.lr_scheduler.StepLR,
    torch.optim.lr_scheduler.MultiStepLR,
    torch.optim.lr_scheduler.CosineAnnealingLR,
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.RMSprop,
    torch.optim.RAdam,
    collections.Counter,
    collections.defaultdict,
    collections.OrderedDict,
    dict,
)

# (module, name) pairs a few-shot split or preprocessed.pkl may hold: Dassl's Datum and plain values.
PICKLE_ALLOWED: FrozenSet[Tuple[str, str]] = frozenset(
    {("dassl.data.datasets.base_dataset", "Datum"), ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")}
    | {("builtins", name) for name in ("object", "dict", "list", "tuple", "set", "frozenset", "str", "bytes",
                                       "int", "float", "bool", "complex")}
    | {("__builtin__", name) for name in ("object", "dict", "list", "tuple", "set", "frozenset", "str", "int",
                                          "float", "bool", "unicode")}
    | {("collections", "OrderedDict"), ("collections", "defaultdict")}
)

_UNSUPPORTED_GLOBAL = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL|Trying to load unsupported "
                                 r"GLOBAL|global) ([\w.]+)", re.IGNORECASE)


class UnsafeFileError(FrameworkError, pickle.UnpicklingError):
    """A data file holds a Python object of a type such files never hold; it was not loaded."""


class DamagedFileError(FrameworkError, ValueError):
    """A data file is truncated, empty or not of the expected format."""


def pickles_trusted() -> bool:
    """True when the user allowed full unpickling (``MMA_TRUST_PICKLES=1``)."""
    return os.environ.get(TRUST_PICKLES_ENV, "") not in ("", "0")


def _warn_trusted(fpath: str) -> None:
    warnings.warn(f"{TRUST_PICKLES_ENV} is set: loading {fpath} with full unpickling, which can run code "
                  "stored in it. Only do this for files you trust.")


def _unsafe_message(fpath: str, what: str, found: Iterable[str]) -> str:
    names = ", ".join(sorted(set(found))) or "an object of an unexpected type"
    return (f'Refused to load {what} "{fpath}": it holds {names}, which such a file never holds, and unpickling '
            f"it could run code. Nothing was loaded. Replace the file with a trusted copy (or delete it if it is a "
            f"cache, so it is rebuilt). If you trust this file, set {TRUST_PICKLES_ENV}=1 to load it with full "
            "unpickling.")


def _unsafe_globals(fpath: str, error: Exception) -> List[str]:
    allowed = {f"{cls.__module__}.{cls.__qualname__}" for cls in REFERENCE_CHECKPOINT_CLASSES}
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(fpath)
    except Exception:  # legacy (non-zip) files: read the name from torch's message
        found = _UNSUPPORTED_GLOBAL.findall(str(error))
    return [name for name in found if name not in allowed]


def load_torch_file(fpath: str, what: str = "checkpoint", map_location: Any = "cpu", fix: str = "") -> Any:
    """``torch.load`` that never runs code: weights-only plus the reference checkpoints' classes.

    ``what`` names the file's role and ``fix`` adds the role's remedy to the damaged-file message.
    """
    if pickles_trusted():
        _warn_trusted(fpath)
        return torch.load(fpath, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(list(REFERENCE_CHECKPOINT_CLASSES)):
            return torch.load(fpath, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = _unsafe_globals(fpath, e)
        if found:
            raise UnsafeFileError(_unsafe_message(fpath, what, found)) from None
        raise DamagedFileError(_damaged_message(fpath, what, e, fix)) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise DamagedFileError(_damaged_message(fpath, what, e, fix)) from None


def _damaged_message(fpath: str, what: str, error: Exception, fix: str) -> str:
    size = os.path.getsize(fpath) if os.path.exists(fpath) else 0
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    detail = f"{type(error).__name__}: {text.split('. ')[0]}" if text else type(error).__name__
    shape = "is empty" if size == 0 else f"is truncated or not a PyTorch file ({size:,} bytes; torch says: {detail})"
    return f'Cannot load {what} "{fpath}": it {shape}. {fix or "Replace it with a complete copy."}'


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only ``PICKLE_ALLOWED``; anything else is recorded and refused."""

    def __init__(self, handle: BinaryIO) -> None:
        super().__init__(handle)
        self.refused: Optional[str] = None

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in PICKLE_ALLOWED:
            return super().find_class(module, name)
        self.refused = f"{module}.{name}"
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def load_pickle_file(fpath: str, what: str = "pickle") -> Any:
    """Unpickle ``fpath`` admitting only Dassl's ``Datum`` and plain containers and values.

    Raises ``UnsafeFileError`` for any other type; truncated files raise the usual
    ``EOFError``/``UnpicklingError`` so callers that rebuild caches can do so.
    """
    with open(fpath, "rb") as handle:
        if pickles_trusted():
            _warn_trusted(fpath)
            return pickle.load(handle)
        unpickler = _RestrictedUnpickler(handle)
        try:
            return unpickler.load()
        except pickle.UnpicklingError:
            if unpickler.refused is not None:
                raise UnsafeFileError(_unsafe_message(fpath, what, [unpickler.refused])) from None
            raise
