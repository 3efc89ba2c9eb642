"""The slurm back-end: one submitit job array; each job runs a group of runs in one process.

A group is one method on one dataset (for cross-dataset: one method's ImageNet model and its
targets), so a job loads CLIP once for all its runs (trainers.kit.shared_backbone, as
tools/run_table.py does) and an evaluation always follows the training whose model it loads. On
pre-emption or time-out Slurm signals the job (submitit asks for USR2 90 s ahead); submitit calls
``RunGroup.checkpoint`` and requeues the same group: finished runs are skipped and the interrupted
one resumes from its saved training state. A run that stops itself on SIGTERM (train.py's exit
code 75, resumable) ends the job's work; it is not a failure.

With ``gpus_per_run`` G > 1 a job holds G GPUs and each run is a torchrun of G processes, started as
a child process (CLIP is then loaded per run); on pre-emption the child gets SIGTERM first, so it
saves its state before the job is requeued.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import signal
import subprocess
import sys
import time
import traceback
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

from dassl.engine.stop_request import STOPPED_EXIT_CODE

from .errors import SweepError
from .runs import (
    STDERR_FILE,
    TRAIN_PY,
    Run,
    is_done,
    launch_command,
    mark_finished,
    mark_running,
    remove_own_stale_lock,
    run_state,
)
from .spec import SweepSpec

CHILD_STOP_SECONDS = 60.0
KNOWN_SETTINGS = {"partition", "account", "time", "gpus_per_task", "cpus_per_task", "mem_gb", "array_parallelism",
                  "runs_per_job", "sbatch", "setup", "signal_delay_s"}


def group_runs(runs: Sequence[Run], runs_per_job: Optional[int] = None) -> List[List[Run]]:
    """Runs of one method and (training) dataset share a job; a training run and the runs that
    evaluate its model are never split. ``runs_per_job`` caps a job's size at those boundaries."""
    by_folder = {run.outdir: run for run in runs}
    components: "OrderedDict[str, List[Run]]" = OrderedDict()
    for run in runs:
        root = run.model_dir if run.model_dir in by_folder else run.outdir
        components.setdefault(root, []).append(run)
    groups: "OrderedDict[tuple, List[List[Run]]]" = OrderedDict()
    for root, members in components.items():
        owner = by_folder[root]
        groups.setdefault((owner.method, owner.dataset), []).append(members)
    jobs: List[List[Run]] = []
    for parts in groups.values():
        current: List[Run] = []
        for members in parts:
            if current and runs_per_job and len(current) + len(members) > runs_per_job:
                jobs.append(current)
                current = []
            current = current + members
        jobs.append(current)
    return jobs


def execute_in_process(run: Run, job_id: str, lease_seconds: Optional[float]) -> str:
    """One train.py call in this process; its stdout goes to its log.txt only, errors to stderr.txt."""
    import train

    remove_own_stale_lock(run, job_id)
    mark_running(run, os.getpid(), job=job_id, lease_seconds=lease_seconds)
    os.makedirs(run.outdir, exist_ok=True)
    code: Optional[int] = 0
    arguments = run.arguments()
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            train.main(train.build_parser().parse_args(arguments), command=["python", TRAIN_PY, *arguments])
    except SystemExit as stop:
        if stop.code != STOPPED_EXIT_CODE:  # e.g. submitit ending the job after requeueing it
            raise
        code = STOPPED_EXIT_CODE  # the run saved its state on SIGTERM / SIGINT: resumable, not failed
    except Exception:  # one failed run must not stop the job's other runs
        code = 1
        with open(osp.join(run.outdir, STDERR_FILE), "a") as errors:
            errors.write(traceback.format_exc())
    return mark_finished(run, code)


def stop_child(pid: int, seconds: float) -> None:
    """SIGTERM to a run's child process, up to ``seconds`` for it to save its state and exit, then
    SIGKILL. It is reaped here with waitpid: this runs in submitit's signal handler, while the job's
    own ``Popen.wait`` holds the Popen's lock."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + seconds
        while time.time() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, ChildProcessError):  # already gone and reaped
        return


class RunGroup:
    """A job of the array: its runs in order, skipping what is done; checkpointable by submitit."""

    def __init__(self, runs: Sequence[Run], lease_seconds: Optional[float] = None, processes: int = 1) -> None:
        self.runs = list(runs)
        self.lease_seconds = lease_seconds
        self.processes = processes
        self.child: Optional[subprocess.Popen] = None
        self.stopped = False

    def execute_as_child(self, run: Run, job_id: str) -> str:
        """One run as a torchrun child process; its output goes to stderr.txt (log.txt is the engine's)."""
        remove_own_stale_lock(run, job_id)
        os.makedirs(run.outdir, exist_ok=True)
        with open(osp.join(run.outdir, STDERR_FILE), "a") as errors:
            self.child = subprocess.Popen(launch_command(run, sys.executable, self.processes),
                                          stdout=subprocess.DEVNULL, stderr=errors)
        mark_running(run, self.child.pid, job=job_id, lease_seconds=self.lease_seconds)
        code = self.child.wait()
        self.child = None
        return mark_finished(run, code, interrupted=self.stopped)

    def __call__(self) -> Dict[str, str]:
        from trainers.kit.shared_backbone import shared_backbones

        job_id = os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID", "")
        states: Dict[str, str] = {}
        with shared_backbones():
            for run in self.runs:
                if self.stopped:
                    states[run.outdir] = "missing"
                elif is_done(run.outdir):
                    states[run.outdir] = "done"
                elif run.model_dir and not is_done(run.model_dir):
                    states[run.outdir] = "missing"
                    print(f"blocked: {run.outdir} (its model {run.model_dir} is not trained)", file=sys.stderr)
                else:
                    state = (self.execute_as_child(run, job_id) if self.processes > 1
                             else execute_in_process(run, job_id, self.lease_seconds))
                    self.stopped = self.stopped or state == "missing"  # stopped on a signal: the job ends
                    states[run.outdir] = state
                print(f"{states[run.outdir]}: {run.outdir}", flush=True)
        return states

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Requeue the same group; the next start skips finished runs and resumes the interrupted one.
        A torchrun child first gets SIGTERM and a minute to save its state."""
        import submitit

        self.stopped = True
        if self.child is not None:
            stop_child(self.child.pid, CHILD_STOP_SECONDS)
        return submitit.helpers.DelayedSubmission(RunGroup(self.runs, self.lease_seconds, self.processes))


def executor_parameters(spec: SweepSpec, settings: Dict[str, Any]) -> Dict[str, Any]:
    """submitit's AutoExecutor parameters for the sweep's slurm settings."""
    unknown = sorted(set(settings) - KNOWN_SETTINGS)
    if unknown:
        raise SweepError(f"unknown slurm setting(s) {unknown}; known: {sorted(KNOWN_SETTINGS)}")
    sbatch = settings.get("sbatch", {})
    setup = settings.get("setup", [])
    if not isinstance(sbatch, dict) or not isinstance(setup, list):
        raise SweepError("slurm 'sbatch' must map sbatch options to values (e.g. {qos: high}) and 'setup' "
                         "must be a list of shell lines run before the job (e.g. ['module load cuda'])")
    parameters: Dict[str, Any] = {
        "name": f"sweep_{spec.name}",
        "timeout_min": int(settings.get("time", 240)),
        "tasks_per_node": 1,
        "nodes": 1,
        "gpus_per_node": int(settings.get("gpus_per_task", 1)),
        "cpus_per_task": int(settings.get("cpus_per_task", 8)),
        "slurm_array_parallelism": int(settings.get("array_parallelism", 64)),
        "slurm_signal_delay_s": int(settings.get("signal_delay_s", 90)),
        "slurm_additional_parameters": {str(key): value for key, value in sbatch.items()},
        "slurm_setup": [str(line) for line in setup],
    }
    if settings.get("mem_gb") is not None:
        parameters["mem_gb"] = int(settings["mem_gb"])
    for name in ("partition", "account"):
        if settings.get(name):
            parameters[f"slurm_{name}"] = str(settings[name])
    return parameters


def submit_sweep(spec: SweepSpec, runs: Sequence[Run], settings: Dict[str, Any], folder: str,
                 cluster: str = "slurm", processes: int = 1) -> List[Any]:
    """Submit the unfinished runs as one job array; returns submitit's jobs."""
    import submitit

    pending = [run for run in runs if run_state(run) in ("missing", "failed")]
    groups = group_runs(pending, settings.get("runs_per_job"))
    if not pending:
        print("Every run is done or running; nothing to submit.")
        return []
    parameters = executor_parameters(spec, settings)
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    except RuntimeError as err:
        raise SweepError(f"cannot submit to Slurm from here ({err}); run on a login node of the cluster, or "
                         "pass --cluster local to run the jobs on this machine") from err
    if cluster != "slurm":
        parameters = {key: value for key, value in parameters.items() if not key.startswith("slurm_")}
    executor.update_parameters(**parameters)
    lease = 60.0 * parameters["timeout_min"]
    with executor.batch():
        jobs = [executor.submit(RunGroup(group, lease, processes)) for group in groups]
    return jobs
