"""One run of a sweep: its folder and train.py arguments, its state on disk, and its execution.

A run is done when its folder holds a complete result.json (the engine writes it atomically at the
end). While a sweep back-end runs it, ``sweep_running.json`` in the folder names the host and
process; when it fails, ``sweep_failed.json`` keeps the exit status and where its output went.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import re
import socket
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from dassl.engine.run_lock import LOCK_FILE, process_alive
from dassl.engine.stop_request import STOPPED_EXIT_CODE
from dassl.utils import atomic_path
from tools.config_tag import write_tag_record

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN_PY = osp.join(REPO_ROOT, "train.py")
RUNNING_FILE = "sweep_running.json"
FAILED_FILE = "sweep_failed.json"
STDERR_FILE = "stderr.txt"
CHECKPOINT = re.compile(r"^model\.pth\.tar-(\d+)$")
STATES = ("done", "running", "failed", "missing")


@dataclass(frozen=True)
class Run:
    """One train.py call of the scripts, with what a back-end needs to order and group it."""

    method: str
    trainer: str
    cfg: str
    protocol: str
    phase: str
    dataset: str
    shots: int
    seed: int
    setting: str
    outdir: str
    head: Tuple[str, ...]      # --root ... --output-dir OUTDIR
    eval_only: bool
    model_dir: str             # the training run this evaluates ("" when none)
    opts: Tuple[str, ...]      # the scripts' RUN_OPTS, then EXTRA_OPTS
    backbone_args: Tuple[str, ...] = ()  # what the scripts' BACKBONE adds (--backbone NAME ...)
    config_tag: str = ""       # the user's CONFIG_TAG, recorded in the folder with the options it names
    tagged_opts: Tuple[str, ...] = ()    # the EXTRA_OPTS the folder's tag or hash stands for

    def arguments(self, load_epoch: Optional[int] = None) -> List[str]:
        """train.py's arguments, in the scripts' order; a model is loaded from ``load_epoch``
        (default: the last checkpoint its training run saved, as the test scripts do)."""
        flags: List[str] = []
        if self.eval_only:
            flags.append("--eval-only")
        if self.model_dir:
            epoch = last_saved_epoch(self.model_dir) if load_epoch is None else load_epoch
            flags += ["--model-dir", self.model_dir, "--load-epoch", str(epoch)]
        return [*self.head, *flags, *self.backbone_args, *self.opts]

    def log_path(self) -> str:
        return osp.join(self.outdir, "log.txt")


def launch_command(run: Run, python: str, processes: int = 1, load_epoch: Optional[int] = None) -> List[str]:
    """The command line of one run: ``python train.py ...``, or with ``processes`` > 1 torchrun's
    ``python -m torch.distributed.run --standalone --nproc_per_node N train.py ...`` (one run on
    N GPUs, or N CPU processes; the engine's DistributedDataParallel, docs/SCALING.md)."""
    launcher = [python, TRAIN_PY] if processes == 1 else [
        python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", TRAIN_PY]
    return [*launcher, *run.arguments(load_epoch)]


def last_saved_epoch(model_dir: str) -> int:
    """The largest E of <model_dir>/<model>/model.pth.tar-E (what the test scripts load by default)."""
    epochs = [
        int(match.group(1))
        for name in sorted(os.listdir(model_dir)) if osp.isdir(osp.join(model_dir, name))
        for match in map(CHECKPOINT.match, os.listdir(osp.join(model_dir, name))) if match
    ] if osp.isdir(model_dir) else []
    if not epochs:
        raise FileNotFoundError(f"No <model>/model.pth.tar-<epoch> in {model_dir}; delete the folder and re-run.")
    return max(epochs)


def is_done(outdir: str) -> bool:
    """True when result.json exists and holds an accuracy (a complete, atomically written file)."""
    try:
        with open(osp.join(outdir, "result.json")) as handle:
            return "accuracy" in json.load(handle)["metrics"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _read_marker(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _claim_is_live(claim: Dict[str, Any]) -> bool:
    """A claim of this host holds while its process lives; another host's (a Slurm job's) until
    its lease (the job's time limit) runs out."""
    if claim.get("host") == socket.gethostname():
        return process_alive(int(claim.get("pid", -1)))
    expires = claim.get("expires")
    return expires is None or time.time() < float(expires)


def run_state(run: Run) -> str:
    """done, running (claimed by a live process or job), failed or missing (never started, or
    interrupted: the next sweep resumes it)."""
    if is_done(run.outdir):
        return "done"
    claim = _read_marker(osp.join(run.outdir, RUNNING_FILE))
    if claim is not None and _claim_is_live(claim):
        return "running"
    lock = _read_marker(osp.join(run.outdir, LOCK_FILE))  # a run started by hand (the engine's lock)
    if lock and lock.get("host") == socket.gethostname() and process_alive(int(lock.get("pid", -1))):
        return "running"
    if osp.exists(osp.join(run.outdir, FAILED_FILE)):
        return "failed"
    return "missing"


def claim_of(run: Run) -> Optional[Dict[str, Any]]:
    return _read_marker(osp.join(run.outdir, RUNNING_FILE))


def remove_own_stale_lock(run: Run, job: str) -> None:
    """A requeued Slurm job (same job id, maybe another node) takes back the engine's lock that its
    earlier incarnation held when it was stopped: the claim shows that holder was this job."""
    claim, lock = claim_of(run), _read_marker(osp.join(run.outdir, LOCK_FILE))
    if job and claim and lock and claim.get("job") == job and (lock.get("pid"), lock.get("host")) == (
            claim.get("pid"), claim.get("host")):
        _remove(osp.join(run.outdir, LOCK_FILE))


def failure_record(run: Run) -> Optional[Dict[str, Any]]:
    return _read_marker(osp.join(run.outdir, FAILED_FILE))


def _write_marker(path: str, content: Dict[str, Any]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        json.dump(content, handle, indent=1)


def mark_running(run: Run, pid: int, job: str = "", lease_seconds: Optional[float] = None) -> None:
    """Claim the run for process ``pid`` (and clear an earlier failure); a tagged run notes its options."""
    _remove(osp.join(run.outdir, FAILED_FILE))
    if run.config_tag:
        write_tag_record(run.outdir, run.config_tag, run.tagged_opts)
    now = time.time()
    _write_marker(osp.join(run.outdir, RUNNING_FILE), {
        "host": socket.gethostname(), "pid": pid, "job": job, "started": now,
        "expires": None if lease_seconds is None else now + lease_seconds,
    })


def mark_finished(run: Run, exit_code: Optional[int], interrupted: bool = False) -> str:
    """Drop the claim; record a failure unless the run is done, was interrupted on purpose or stopped
    itself resumably (train.py's exit code 75 after a SIGTERM / SIGINT). Returns the run's state."""
    _remove(osp.join(run.outdir, RUNNING_FILE))
    if is_done(run.outdir):
        return "done"
    if interrupted or exit_code == STOPPED_EXIT_CODE:
        return "missing"
    _write_marker(osp.join(run.outdir, FAILED_FILE), {
        "exit_code": exit_code, "log": run.log_path(), "stderr": osp.join(run.outdir, STDERR_FILE),
        "host": socket.gethostname(), "time": time.time(),
    })
    return "failed"


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
