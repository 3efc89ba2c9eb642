"""Finished runs found under an output root, in the scripts' folder layout (docs/REPRODUCE.md).

``<protocol>/<phase>/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>/result.json``, optionally below
``studies/<study>/<setting>/`` (scripts/attnmma/study.sh). A run is finished when its result file
exists; its per-image predictions (``predictions.npz``) sit next to it when the engine wrote them.
Each distinct ``<cfg>`` folder is its own configuration: runs of two folders are never averaged
together.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from dassl.evaluation import PREDICTIONS_FILE
from dassl.utils.errors import CorruptFileError, FrameworkError

RESULT_FILES = ("result.json",)
DATASET_ORDER = (
    "imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
    "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
    "imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r",
)
BASE2NEW_DATASETS = DATASET_ORDER[:11]
XD_TARGETS = DATASET_ORDER[1:11]
DG_TARGETS = DATASET_ORDER[11:]
RUN_DIR_PATTERN = re.compile(
    r"^(?:studies/(?P<study>[^/]+)/(?P<setting>[^/]+)/)?"
    r"(?P<protocol>[^/]+)/(?P<phase>[^/]+)/(?P<dataset>[^/]+)/shots_(?P<shots>-?\d+)/"
    r"(?P<trainer>[^/]+)/(?P<cfg>[^/]+)/seed(?P<seed>-?\d+)$"
)


class ResultFileError(CorruptFileError):
    """A result file that cannot be read."""


class OutputRootError(FrameworkError, FileNotFoundError):
    """The output root does not exist."""


@dataclass(frozen=True)
class Run:
    """One finished run: where it sits in the layout and its test accuracy (percent)."""

    protocol: str
    phase: str
    dataset: str
    shots: int
    trainer: str
    cfg: str
    seed: int
    accuracy: float
    folder: str
    study: Optional[str] = None
    setting: Optional[str] = None

    @property
    def predictions_path(self) -> Optional[str]:
        path = os.path.join(self.folder, PREDICTIONS_FILE)
        return path if os.path.isfile(path) else None


def read_accuracy(result_path: str) -> float:
    """The test accuracy (percent) recorded in a run's result file."""
    try:
        with open(result_path) as handle:
            result = json.load(handle)
        return float(result["metrics"]["accuracy"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ResultFileError(
            f"Cannot read the accuracy from {result_path}: {err!r}. Delete the file and re-run that "
            "run's script to regenerate it."
        ) from err


def find_runs(output_root: str) -> List[Run]:
    """Every finished run under output_root whose folder follows the scripts' layout."""
    if not os.path.isdir(output_root):
        raise OutputRootError(
            f"No such output folder: {output_root!r}. Pass the OUTPUT root the scripts wrote to."
        )
    runs = []
    for folder, _, files in os.walk(output_root):
        result_name = next((name for name in RESULT_FILES if name in files), None)
        if result_name is None:
            continue
        match = RUN_DIR_PATTERN.match(os.path.relpath(folder, output_root).replace(os.sep, "/"))
        if match is None:
            continue
        fields = match.groupdict()
        runs.append(Run(
            protocol=fields["protocol"], phase=fields["phase"], dataset=fields["dataset"],
            shots=int(fields["shots"]), trainer=fields["trainer"], cfg=fields["cfg"], seed=int(fields["seed"]),
            accuracy=read_accuracy(os.path.join(folder, result_name)), folder=folder,
            study=fields["study"], setting=fields["setting"],
        ))
    return sorted(runs, key=lambda r: (r.study or "", r.setting or "", r.protocol, r.phase,
                                       dataset_sort_key(r.dataset), r.shots, r.trainer, r.cfg, r.seed))


def dataset_sort_key(name: str) -> Tuple[int, str]:
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)
