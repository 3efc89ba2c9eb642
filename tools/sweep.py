"""Run a grid of methods x datasets x seeds (x settings) on this machine, on Slurm, or print it.

    python tools/sweep.py run configs/sweeps/mma_base2new.yaml                 # every GPU here, 1 run each
    python tools/sweep.py run configs/sweeps/mma_base2new.yaml --per-gpu 3     # 3 runs at once per GPU
    python tools/sweep.py run configs/sweeps/mma_base2new.yaml --cpu --per-gpu 2
    python tools/sweep.py run configs/sweeps/mma_xd_dg.yaml --gpus-per-run 4        # torchrun, 4 GPUs a run
    python tools/sweep.py run configs/sweeps/all_base2new.yaml --backend slurm --partition gpu --time 240
    python tools/sweep.py run configs/sweeps/mma_fewshot.yaml --backend print > commands.sh
    python tools/sweep.py status configs/sweeps/mma_base2new.yaml [--watch 30]
    python tools/sweep.py tables configs/sweeps/mma_base2new.yaml

The runs are those of scripts/<method>/*.sh: the same folders, train.py arguments and numbers. A run
is done when its result.json is complete; running a sweep again starts only the missing and failed
runs and resumes interrupted ones. When every run is done the tables (tools/report.py) are written
to OUTPUT/sweeps/<name>.tables.txt. docs/SCALING.md explains the sweep files and the back-ends.
"""
from __future__ import annotations

import argparse
import os.path as osp
import shlex
import sys
import time
from typing import Dict, List, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dassl.utils.errors import add_debug_flag, run_cli
from tools.sweeping.errors import SweepError
from tools.sweeping.grid import expand
from tools.sweeping.runs import Run, is_done, last_saved_epoch, launch_command
from tools.sweeping.spec import SweepSpec, load_spec
from tools.sweeping.status import status_report, tables_path, write_tables

CPU_OPTS = ("USE_CUDA", "False")
SLURM_OPTIONS = ("partition", "account", "time", "gpus_per_task", "cpus_per_task", "mem_gb", "array_parallelism",
                 "runs_per_job")


def planned_epochs(model: Run) -> int:
    """The epoch whose checkpoint a test will load: the last saved one, or the config's MAX_EPOCH
    (the engine always saves the last epoch) before the training has run."""
    if osp.isdir(model.outdir):
        try:
            return last_saved_epoch(model.outdir)
        except FileNotFoundError:
            pass
    import train

    return int(train.setup_cfg(train.build_parser().parse_args(model.arguments())).OPTIM.MAX_EPOCH)


def print_commands(runs: Sequence[Run], python: str, missing_only: bool, processes: int = 1) -> None:
    """One shell line per run, in an order that trains each model before it is evaluated."""
    by_folder = {run.outdir: run for run in runs}
    epochs: Dict[str, int] = {}
    for run in runs:
        if missing_only and is_done(run.outdir):
            continue
        load_epoch = None
        if run.model_dir:
            if run.model_dir not in epochs:
                epochs[run.model_dir] = planned_epochs(by_folder[run.model_dir])
            load_epoch = epochs[run.model_dir]
        print(shlex.join(launch_command(run, python, processes, load_epoch)))


def gpus_per_run(spec: SweepSpec, args: argparse.Namespace) -> int:
    """GPUs (on CPU: processes) of each run: --gpus-per-run, else the sweep file's gpus_per_run."""
    count = args.gpus_per_run if args.gpus_per_run is not None else spec.gpus_per_run
    if count < 1:
        raise SweepError(f"GPUs per run must be at least 1, got {count}")
    return count


def run_local(spec: SweepSpec, args: argparse.Namespace) -> int:
    from tools.sweeping.local import LocalQueue, device_groups, visible_gpus

    gpus = [] if args.cpu else visible_gpus()
    runs = expand(spec, () if gpus else CPU_OPTS)
    per_device = args.per_gpu or int(spec.local.get("runs_per_gpu", 1))
    processes = gpus_per_run(spec, args)
    devices = device_groups(gpus, processes)
    if not gpus:
        print("No GPU in use (--cpu, or none visible): the runs share the CPU"
              + (f", {processes} processes each." if processes > 1 else "."))
    queue = LocalQueue(runs, devices, per_device, threads_per_run=args.threads, processes_per_run=processes)
    states = queue.run_all()
    if queue.stopping:
        print("Stopped: run the same command again to resume the interrupted runs.")
        return 128 + int(queue.stopping)
    return finish(spec, runs, states)


def finish(spec: SweepSpec, runs: Sequence[Run], states: Dict[str, str]) -> int:
    """Write the tables when the whole grid is done; say what is left otherwise."""
    left = [outdir for outdir, state in states.items() if state != "done"]
    if left:
        print(f"{len(left)} of {len(runs)} runs are not done (python tools/sweep.py status ... lists them); "
              "run the same command again to retry them.")
        return 1
    print(write_tables(spec, runs))
    print(f"\nTables written to {tables_path(spec)}")
    return 0


def slurm_settings(spec: SweepSpec, args: argparse.Namespace) -> Dict[str, object]:
    settings = dict(spec.slurm)
    for name in SLURM_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    return settings


def run_slurm(spec: SweepSpec, args: argparse.Namespace) -> int:
    from tools.sweeping.slurm import submit_sweep

    settings = slurm_settings(spec, args)
    processes = gpus_per_run(spec, args)
    job_gpus = int(settings.get("gpus_per_task", processes))
    if job_gpus not in (0, processes):
        raise SweepError(f"gpus_per_task {job_gpus} with {processes} GPU(s) per run: a job does one run at a time, "
                         f"so give it the run's GPUs (gpus_per_task {processes}), or set gpus_per_run {job_gpus} "
                         "to make each run one torchrun over all of them (0: CPU-only jobs)")
    settings["gpus_per_task"] = job_gpus
    runs = expand(spec, CPU_OPTS if job_gpus == 0 else ())
    jobs = submit_sweep(spec, runs, settings, folder=args.submitit_folder or osp.join(spec.output_root, "sweeps",
                                                                                      f"{spec.name}.slurm"),
                        cluster=args.cluster, processes=processes)
    print(f"Submitted {len(jobs)} job(s): {', '.join(job.job_id for job in jobs)}. "
          f"Follow them with: python tools/sweep.py status {args.sweep_file}")
    if not args.wait:
        return 0
    for job in jobs:
        job.wait()
    return finish(spec, runs, {run.outdir: "done" if is_done(run.outdir) else "missing" for run in runs})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run, follow or print a sweep of the scripts' runs.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the missing and failed runs of a sweep file")
    status = commands.add_parser("status", help="done / running / failed / missing per method and dataset")
    tables = commands.add_parser("tables", help="write the tables of the sweep's finished runs")
    for sub in (run, status, tables):
        sub.add_argument("sweep_file", help="a YAML sweep file (configs/sweeps/*.yaml)")
        sub.add_argument("--data", help="dataset root (overrides the file's 'data')")
        sub.add_argument("--output", help="output root (overrides the file's 'output')")
    run.add_argument("--backend", choices=("local", "slurm", "print"), default="local")
    run.add_argument("--cpu", action="store_true", help="local: run on the CPU even if GPUs are visible")
    run.add_argument("--gpus-per-run", type=int,
                     help="each run is one torchrun over this many GPUs (with --cpu: processes); default: the "
                          "file's gpus_per_run, else 1 (a plain train.py per run)")
    run.add_argument("--per-gpu", type=int, help="local: runs at once per GPU (or on the CPU); default 1")
    run.add_argument("--threads", type=int, help="local: OMP_NUM_THREADS per run (default: CPU cores / runs at once)")
    run.add_argument("--missing-only", action="store_true", help="print: leave out the finished runs")
    run.add_argument("--cluster", choices=("slurm", "local", "debug"), default="slurm",
                     help="slurm: submitit's executor (local/debug run the jobs on this machine)")
    run.add_argument("--submitit-folder", help="slurm: folder of submitit's job files and logs")
    run.add_argument("--wait", action="store_true", help="slurm: wait for the jobs, then write the tables")
    run.add_argument("--partition")
    run.add_argument("--account")
    run.add_argument("--time", type=int, help="minutes per job")
    run.add_argument("--gpus-per-task", type=int)
    run.add_argument("--cpus-per-task", type=int)
    run.add_argument("--mem-gb", type=int)
    run.add_argument("--array-parallelism", type=int, help="the most jobs of the array running at once")
    run.add_argument("--runs-per-job", type=int, help="the most runs one job does (default: a whole group)")
    status.add_argument("--watch", type=float, help="refresh every this many seconds until nothing runs")
    add_debug_flag(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = load_spec(args.sweep_file, (("data", args.data), ("output", args.output)))
        if args.command == "status":
            runs = expand(spec)
            while True:
                report = status_report(spec, runs)
                print(report, flush=True)
                if not args.watch or "0 running" in report.splitlines()[1]:
                    return 0
                time.sleep(args.watch)
                print()
        if args.command == "tables":
            print(write_tables(spec, expand(spec)))
            return 0
        if args.backend == "print":
            print_commands(expand(spec), "python", args.missing_only, gpus_per_run(spec, args))
            return 0
        return run_local(spec, args) if args.backend == "local" else run_slurm(spec, args)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    run_cli(main)
