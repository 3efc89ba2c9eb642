"""Fake finished runs for the report tests, written by the engine's own writers (tools/make_fake_runs.py)."""
from pathlib import Path
from typing import Optional, Sequence

from dassl.evaluation import write_predictions
from tools.make_fake_runs import write_run

MMA, COOP = "MultiModalAdapter", "CoOp"


def run(root: Path, relative: str, accuracy: float, epochs: int = 0) -> Path:
    """A finished run; 200 test images, so accuracies are multiples of 0.5."""
    assert (accuracy * 2).is_integer(), "use multiples of 0.5 (200 test images)"
    return Path(write_run(str(root), relative, accuracy, epochs=epochs))


def b2n(phase: str, dataset: str, trainer: str, cfg: str, seed: int, study: Optional[str] = None) -> str:
    prefix = f"studies/{study}/" if study else ""
    return f"{prefix}base2new/{phase}/{dataset}/shots_16/{trainer}/{cfg}/seed{seed}"


def b2n_pair(root: Path, dataset: str, trainer: str, cfg: str, seed: int, base: float, novel: float,
             study: Optional[str] = None) -> None:
    run(root, b2n("train_base", dataset, trainer, cfg, seed, study), base, epochs=3)
    run(root, b2n("test_new", dataset, trainer, cfg, seed, study), novel)


def set_predictions(folder: Path, targets: Sequence[int], preds: Sequence[int]) -> None:
    write_predictions(str(folder), list(targets), list(preds))
