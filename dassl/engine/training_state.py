"""The resumable end-of-epoch checkpoint: weights, optimizers, schedulers, epoch and RNG states.

Restoring all of it makes a run stopped after epoch k and restarted with the same command end
with exactly the weights of an uninterrupted run (on CPU; cuDNN autotuning is not bit-exact).
Everything is stored as tensors and plain values, so it loads with ``weights_only=True``.
"""
import random
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import torch

from dassl.utils import load_checkpoint, save_torch_atomically
from dassl.utils.errors import CheckpointMismatchError

RESUME_FILE = "resume.pth"


def capture_rng_state() -> Dict[str, Any]:
    """Python, NumPy, torch CPU and (when present) CUDA generator states."""
    _, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state: Dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(key.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Put back the generator states taken by :func:`capture_rng_state`."""
    random.setstate(_as_python_rng_state(state["python"]))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["key"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _as_python_rng_state(state: Any) -> Tuple[Any, ...]:
    """``random.setstate`` needs tuples; a loaded state may come back with lists."""
    version, internal, gauss_next = state
    return (version, tuple(internal), gauss_next)


def save_training_state(
    fpath: str,
    epoch: int,
    models: Mapping[str, torch.nn.Module],
    optims: Mapping[str, Optional[torch.optim.Optimizer]],
    scheds: Mapping[str, Any],
    best_result: float,
    extra: Mapping[str, Any],
    position: Optional[Mapping[str, Any]] = None,
) -> None:
    """Atomically write the state after ``epoch`` completed epochs (``extra``: trainer-owned values).

    ``position`` marks a state saved inside an epoch: ``batches_done`` of epoch ``epoch + 1`` and the
    RNG states at that epoch's start (``epoch_rng``), from which the sampler order is drawn again.
    """
    state = {
        "epoch": epoch,
        "position": dict(position) if position else None,
        "best_result": float(best_result),
        "extra": dict(extra),
        "models": {
            name: {
                "state_dict": model.state_dict(),
                "optimizer": optims[name].state_dict() if optims[name] is not None else None,
                "scheduler": scheds[name].state_dict() if scheds[name] is not None else None,
            }
            for name, model in models.items()
        },
        "rng": capture_rng_state(),
    }
    save_torch_atomically(state, fpath)


def load_training_state(
    fpath: str,
    models: Mapping[str, torch.nn.Module],
    optims: Mapping[str, Optional[torch.optim.Optimizer]],
    scheds: Mapping[str, Any],
) -> Tuple[int, float, Dict[str, Any], Dict[str, Any], Optional[Dict[str, Any]]]:
    """Load weights/optimizers/schedulers in place.

    Returns (completed epochs, best result, RNG state, extra, position inside the next epoch or None).
    """
    state = load_checkpoint(
        fpath,
        fix=f"It is the resumable state of an interrupted run and is not needed: delete {fpath} and run the same "
        "command again to restart from the last saved epoch checkpoint (or from scratch if there is none).",
    )
    saved, registered = set(state["models"]), set(models)
    if saved != registered:
        raise CheckpointMismatchError(
            f'The resumable checkpoint "{fpath}" holds models {sorted(saved)} but this trainer registers '
            f"{sorted(registered)}; use another OUTPUT_DIR or delete that file to start from scratch"
        )
    for name, model in models.items():
        entry = state["models"][name]
        model.load_state_dict(entry["state_dict"])
        if optims[name] is not None and entry["optimizer"] is not None:
            optims[name].load_state_dict(entry["optimizer"])
        if scheds[name] is not None and entry["scheduler"] is not None:
            scheds[name].load_state_dict(entry["scheduler"])
    return state["epoch"], state["best_result"], state["rng"], state["extra"], state.get("position")
