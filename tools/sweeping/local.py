"""The local back-end: a queue over this machine's GPUs (or its CPU), N runs at once per device.

Every run is its own ``python train.py ...`` process, the scripts' command, with
CUDA_VISIBLE_DEVICES naming its one GPU; with ``gpus_per_run`` G > 1 it is a torchrun of G processes
on G GPUs (the visible GPUs are cut into groups of G), or G CPU processes. An evaluation waits for
the training run whose model it loads. SIGTERM / SIGINT stop the sweep: the runs in flight get
SIGTERM, and the next sweep resumes them (the engine continues from their saved training state). A
run that exits with train.py's code 75 was stopped from outside after saving: it is not a failure,
and the next sweep resumes it.
"""
from __future__ import annotations

import os
import os.path as osp
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from .errors import SweepError
from .runs import STDERR_FILE, Run, is_done, launch_command, mark_finished, mark_running, run_state
from .status import summary_line

STOP_GRACE_SECONDS = 60.0


def visible_gpus() -> List[str]:
    """The GPUs this process may use: CUDA_VISIBLE_DEVICES if set, else every GPU torch sees."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [item for item in visible.split(",") if item.strip() and item.strip() != "-1"]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def device_groups(gpus: Sequence[str], gpus_per_run: int) -> List[str]:
    """The CUDA_VISIBLE_DEVICES of each run slot: the GPUs cut into groups of ``gpus_per_run``
    (``["cpu"]`` without GPUs)."""
    if not gpus:
        return ["cpu"]
    if len(gpus) < gpus_per_run:
        raise SweepError(f"{gpus_per_run} GPUs per run, but only {len(gpus)} are visible ({','.join(gpus)}); "
                         "lower --gpus-per-run or make more GPUs visible (CUDA_VISIBLE_DEVICES)")
    starts = range(0, len(gpus) - gpus_per_run + 1, gpus_per_run)
    groups = [",".join(gpus[start:start + gpus_per_run]) for start in starts]
    unused = gpus[len(groups) * gpus_per_run:]
    if unused:
        print(f"GPU(s) {','.join(unused)} stay idle: {len(gpus)} GPUs do not split into groups of {gpus_per_run}.")
    return groups


@dataclass
class Slot:
    device: str               # CUDA_VISIBLE_DEVICES of its runs ("0", or "0,1" for 2 GPUs per run), or "cpu"
    process: Optional[subprocess.Popen] = None
    run: Optional[Run] = None


class LocalQueue:
    """Runs the unfinished runs of a sweep, ``per_device`` at a time on each device."""

    def __init__(self, runs: Sequence[Run], devices: Sequence[str], per_device: int, python: str = sys.executable,
                 threads_per_run: Optional[int] = None, processes_per_run: int = 1) -> None:
        if per_device < 1:
            raise SweepError(f"runs per device must be at least 1, got {per_device}")
        self.runs = list(runs)
        self.slots = [Slot(device) for device in devices for _ in range(per_device)]
        self.python = python
        self.processes = processes_per_run
        self.threads = threads_per_run or max(1, (os.cpu_count() or 1) // (len(self.slots) * processes_per_run))
        self.stopping = 0

    def _environment(self, device: str) -> Dict[str, str]:
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="" if device == "cpu" else device)
        env.setdefault("OMP_NUM_THREADS", str(self.threads))
        return env

    def _start(self, slot: Slot, run: Run) -> None:
        os.makedirs(run.outdir, exist_ok=True)
        with open(osp.join(run.outdir, STDERR_FILE), "a") as errors:
            slot.process = subprocess.Popen(launch_command(run, self.python, self.processes), stdout=subprocess.DEVNULL,
                                            stderr=errors, env=self._environment(slot.device), cwd=os.getcwd())
        slot.run = run
        mark_running(run, slot.process.pid)
        print(f"start [{slot.device}] {run.outdir}", flush=True)

    def _stop(self, signum: int, frame) -> None:  # noqa: ARG002 (signal handler signature)
        self.stopping = signum
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(signal.SIGTERM)

    def _collect(self, slot: Slot, states: Dict[str, str]) -> None:
        assert slot.process is not None and slot.run is not None
        code = slot.process.returncode
        state = mark_finished(slot.run, code, interrupted=bool(self.stopping))
        states[slot.run.outdir] = state
        shown, note = state, ""
        if state == "failed":
            note = f" (exit {code}; see {slot.run.log_path()} and {osp.join(slot.run.outdir, STDERR_FILE)})"
        elif state == "missing":
            shown, note = "stopped", f" (exit {code}: it saved its state; running the sweep again resumes it)"
        print(f"{shown} [{slot.device}] {slot.run.outdir}{note}", flush=True)
        print(summary_line(list(states.values())), flush=True)
        slot.process = slot.run = None

    def _ready(self, run: Run, states: Dict[str, str]) -> Optional[bool]:
        """True when the run can start; None when it never will in this sweep (its model failed)."""
        if not run.model_dir:
            return True
        model_state = states.get(run.model_dir, "done" if is_done(run.model_dir) else "missing")
        if model_state == "done":
            return True
        return None if model_state == "failed" else False

    def run_all(self) -> Dict[str, str]:
        """Run until every run is done, failed or blocked; return each folder's final state."""
        states = {run.outdir: run_state(run) for run in self.runs}
        pending = [run for run in self.runs if states[run.outdir] in ("missing", "failed")]
        busy = [run.outdir for run in self.runs if states[run.outdir] == "running"]
        if busy:
            print(f"{len(busy)} run(s) are running in another process and are left to it, e.g. {busy[0]}")
        for run in pending:
            states[run.outdir] = "missing"
        print(summary_line(list(states.values())), flush=True)
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._loop(pending, states)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return states

    def _loop(self, pending: List[Run], states: Dict[str, str]) -> None:
        deadline = None
        while True:
            for slot in self.slots:
                if slot.process is not None and slot.process.poll() is not None:
                    self._collect(slot, states)
            if self.stopping:
                deadline = deadline or time.time() + STOP_GRACE_SECONDS
                if all(slot.process is None for slot in self.slots):
                    return
                if time.time() > deadline:
                    for slot in self.slots:
                        if slot.process is not None:
                            slot.process.kill()
                time.sleep(0.1)
                continue
            for slot in self.slots:
                if slot.process is not None:
                    continue
                for run in list(pending):
                    ready = self._ready(run, states)
                    if ready is None:
                        pending.remove(run)
                        print(f"blocked: {run.outdir} (the training run {run.model_dir} failed)", flush=True)
                    elif ready:
                        pending.remove(run)
                        self._start(slot, run)
                        break
            if all(slot.process is None for slot in self.slots):
                return
            time.sleep(0.2)
