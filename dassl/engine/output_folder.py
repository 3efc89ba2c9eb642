"""One output folder, one run: lock it, check it holds this run (or nothing), record the run.

``claim_output_folder`` runs before the log or any checkpoint is written, so a refused command
leaves the folder exactly as it was.
"""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence

from dassl.utils import read_json

from .run_lock import LOCK_FILE, RunLock
from .run_record import (
    RUN_RECORD,
    RunMismatchError,
    archive_run,
    check_same_run,
    read_run_record,
    record_split_fingerprint,
    run_identity,
    split_fingerprint,
    write_run_record,
)

TEMPORARY_SUFFIX = ".tmp"
LEGACY_MARKERS = ("result.json", "resume.pth")
# result.json fields (written by older versions, which had no run record) and the keys they echo.
LEGACY_RESULT_FIELDS = {
    "trainer": "TRAINER.NAME",
    "dataset": "DATASET.NAME",
    "subsample": "DATASET.SUBSAMPLE_CLASSES",
    "shots": "DATASET.NUM_SHOTS",
    "seed": "SEED",
    "backbone": "MODEL.BACKBONE.NAME",
}


@dataclass
class RunRequest:
    """What a command asks for: its config, mode and how it was typed."""

    cfg: Any
    mode: str
    command: Sequence[str]
    overrides: Sequence[str]
    overwrite: bool = False
    extra_identity: Dict[str, Any] = field(default_factory=dict)


def remove_leftover_temporaries(folder: str) -> int:
    """Delete ``*.tmp`` files that interrupted atomic writes left behind; return how many."""
    removed = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            if name.startswith(".") and name.endswith(TEMPORARY_SUFFIX):
                os.remove(osp.join(dirpath, name))
                removed += 1
    if removed:
        print(f"Removed {removed} temporary file(s) left in {folder} by an interrupted earlier process")
    return removed


def _holds_legacy_run(folder: str) -> bool:
    if not osp.isdir(folder) or osp.exists(osp.join(folder, RUN_RECORD)):
        return False
    if any(osp.exists(osp.join(folder, name)) for name in LEGACY_MARKERS):
        return True
    return any(osp.isfile(osp.join(folder, name, "checkpoint")) for name in os.listdir(folder))


def _check_legacy_run(folder: str, identity: Mapping[str, Any]) -> None:
    """A folder of a version without run records: compare what its result.json says, if anything."""
    result_path = osp.join(folder, "result.json")
    if osp.isfile(result_path):
        try:
            result = read_json(result_path)
        except ValueError:
            result = {}
        differences = [
            f"{key}: {result[name]!r} -> {identity.get(key)!r}"
            for name, key in LEGACY_RESULT_FIELDS.items()
            if name in result and key in identity and result[name] != identity[key]
        ]
        if differences:
            shown = "\n".join(f"  {line}" for line in differences)
            raise RunMismatchError(
                f'The output folder "{folder}" holds an earlier run (no {RUN_RECORD}; its result.json differs in:\n'
                f"{shown}\n). Nothing was changed. Either give this run its own folder (--output-dir), or pass "
                "--overwrite to move the old run aside and start afresh."
            )
    print(f"Note: {folder} holds a run without a run record (an older version wrote it); recording this command's settings for it")


def eval_subfolder(cfg: Any, load_epoch: Optional[int]) -> str:
    """The folder an evaluation writes to when its output folder holds a training run."""
    name = f"eval_{cfg.DATASET.SUBSAMPLE_CLASSES}_{cfg.TEST.SPLIT}"
    if load_epoch is not None:
        name += f"_ep{load_epoch}"
    return osp.join(cfg.OUTPUT_DIR, name)


def redirect_evaluation(cfg: Any, load_epoch: Optional[int]) -> Any:
    """An evaluation never replaces a training run's files: into a training folder it writes to a subfolder."""
    record = read_run_record(cfg.OUTPUT_DIR)
    holds_training = (record or {}).get("identity", {}).get("mode") == "train" or _holds_legacy_run(cfg.OUTPUT_DIR)
    if not holds_training:
        return cfg
    target = eval_subfolder(cfg, load_epoch)
    print(f"Note: {cfg.OUTPUT_DIR} holds a training run; this evaluation writes its log and result to {target}")
    cfg = cfg.clone()
    cfg.defrost()
    cfg.OUTPUT_DIR = target
    cfg.freeze()
    return cfg


class ClaimedOutputFolder:
    """The locked output folder of a run; ``record_split`` adds the data split once it is built."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.folder = request.cfg.OUTPUT_DIR
        self.lock = RunLock(self.folder)
        self.identity = run_identity(request.cfg, request.mode, request.extra_identity)

    def __enter__(self) -> "ClaimedOutputFolder":
        self.lock.acquire()
        try:
            self._prepare()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.lock.release()

    def _prepare(self) -> None:
        request = self.request
        remove_leftover_temporaries(self.folder)
        if request.overwrite:
            archived = archive_run(self.folder, keep=(LOCK_FILE,))
            if archived:
                print(f"--overwrite: the earlier contents of {self.folder} were moved to {archived}")
        elif _holds_legacy_run(self.folder):
            _check_legacy_run(self.folder, self.identity)
        elif check_same_run(self.folder, self.identity) is not None:
            return
        write_run_record(self.folder, request.cfg, request.command, request.overrides, self.identity)

    def record_split(self, dataset: Any) -> None:
        """Fingerprint the split the run uses; refuse when the folder's run used another one."""
        splits = {"train_x": dataset.train_x, "val": dataset.val, "test": dataset.test}
        root = getattr(dataset, "dataset_dir", "") or self.request.cfg.DATASET.ROOT
        record_split_fingerprint(self.folder, split_fingerprint(root, splits))


def claim_output_folder(request: RunRequest) -> ClaimedOutputFolder:
    """Lock and check ``request.cfg.OUTPUT_DIR`` (use with ``with``)."""
    return ClaimedOutputFolder(request)
