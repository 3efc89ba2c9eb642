"""The local back-end: a 2 x 2 x 2 grid on fake data, 2 runs at once on the CPU, stopped midway
and run again: every run ends exactly once and the tables are written; runs on several GPUs (on
the CPU: processes) through torchrun; a run that stopped itself resumably is not a failure."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweep_helpers import run_folders, tiny_sweep_file
from tools.sweep import main as sweep_main
from tools.sweeping.errors import SweepError
from tools.sweeping.grid import expand
from tools.sweeping.local import LocalQueue, device_groups
from tools.sweeping.spec import parse_spec

REPO_ROOT = Path(__file__).resolve().parents[1]


def finished(folders):
    return [folder for folder in folders if (folder / "result.json").is_file()]


def test_local_sweep_stopped_midway_resumes_and_writes_the_tables(tmp_path, fake_data_root, tiny_clip_checkpoint):
    sweep = tiny_sweep_file(tmp_path, fake_data_root, tiny_clip_checkpoint)
    folders = run_folders(tmp_path)
    command = [sys.executable, str(REPO_ROOT / "tools" / "sweep.py"), "run", str(sweep), "--cpu", "--per-gpu", "2",
               "--threads", "1"]
    log = open(tmp_path / "first.txt", "w")
    first = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 900
    while len(finished(folders)) < 2 and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=300) == 128 + signal.SIGTERM, (tmp_path / "first.txt").read_text()
    done_before = finished(folders)
    assert 2 <= len(done_before) < len(folders)
    assert not list((tmp_path / "output").rglob("sweep_running.json"))
    assert "start [cpu]" in (tmp_path / "first.txt").read_text()

    again = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert sorted(finished(folders)) == sorted(folders)
    for folder in folders:
        log_text = (folder / "log.txt").read_text()
        assert log_text.count("Finish training") == 1, folder
        assert json.loads((folder / "result.json").read_text())["shots"] in (1, 2)
        if folder in done_before:  # not started again
            assert "a new process appends" not in log_text and f"start [cpu] {folder}" not in again.stdout
    tables = (tmp_path / "output" / "sweeps" / "tiny.tables.txt").read_text()
    report = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "report.py"), str(tmp_path / "output")],
                            capture_output=True, text=True)
    assert tables == f"##### {tmp_path / 'output'}\n{report.stdout.rstrip()}\n"
    assert "eurosat" in tables and "dtd" in tables
    assert "8/8 done (100%)" in again.stdout


def test_device_groups_for_runs_on_several_gpus(capsys):
    assert device_groups(["0", "1", "2", "3"], 1) == ["0", "1", "2", "3"]
    assert device_groups(["0", "1", "2"], 2) == ["0,1"]
    assert "GPU(s) 2 stay idle" in capsys.readouterr().out
    assert device_groups([], 4) == ["cpu"]  # on the CPU: 4 processes a run
    with pytest.raises(SweepError, match=r"2 GPUs per run, but only 1 are visible \(5\)"):
        device_groups(["5"], 2)


def test_a_run_that_stopped_itself_resumably_is_not_a_failure(tmp_path, capsys):
    """A run that exits with train.py's 75 (it saved its state on SIGTERM from outside the sweep) is
    left for the next sweep to resume; any other non-zero exit is recorded as a failure."""
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\nexit $EXIT_CODE\n")
    fake_python.chmod(0o755)
    spec = parse_spec({"protocol": "fewshot", "methods": ["mmadapter"], "datasets": ["eurosat"], "seeds": [1],
                       "shots": [1], "output": str(tmp_path / "out")}, "t")
    run = expand(spec)[0]
    for code, state in (("75", "missing"), ("3", "failed")):
        os.environ["EXIT_CODE"] = code
        try:
            states = LocalQueue([run], ["cpu"], 1, python=str(fake_python)).run_all()
        finally:
            del os.environ["EXIT_CODE"]
        assert states == {run.outdir: state}
        assert (Path(run.outdir) / "sweep_failed.json").exists() == (state == "failed")
    printed = capsys.readouterr().out
    assert f"stopped [cpu] {run.outdir} (exit 75: it saved its state; running the sweep again resumes it)" in printed
    assert f"failed [cpu] {run.outdir} (exit 3; see" in printed


def test_print_backend_launches_runs_on_several_gpus_through_torchrun(tmp_path, capsys):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"protocol: fewshot\nmethods: [mmadapter]\ndatasets: [dtd]\nseeds: [1]\nshots: [4]\n"
                     f"output: {tmp_path}/o\ngpus_per_run: 2\n")
    assert sweep_main(["run", str(sweep), "--backend", "print"]) == 0
    assert capsys.readouterr().out.startswith(
        f"python -m torch.distributed.run --standalone --nproc_per_node=2 {REPO_ROOT / 'train.py'} --root data/ ")
    assert sweep_main(["run", str(sweep), "--backend", "print", "--gpus-per-run", "1"]) == 0
    assert capsys.readouterr().out.startswith(f"python {REPO_ROOT / 'train.py'} --root data/ ")
    assert sweep_main(["run", str(sweep), "--backend", "slurm", "--gpus-per-task", "4"]) == 2
    assert "gpus_per_task 4 with 2 GPU(s) per run" in capsys.readouterr().err


def test_local_sweep_runs_each_run_as_a_torchrun(tmp_path, fake_data_root, tiny_clip_checkpoint):
    sweep = tiny_sweep_file(tmp_path, fake_data_root, tiny_clip_checkpoint, datasets=("eurosat",), seeds=(1,),
                            shots=(2,))
    done = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "sweep.py"), "run", str(sweep), "--cpu",
                           "--gpus-per-run", "2", "--threads", "1"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the runs share the CPU, 2 processes each." in done.stdout and "1/1 done (100%)" in done.stdout
    folder = run_folders(tmp_path, datasets=("eurosat",), seeds=(1,), shots=(2,))[0]
    assert "world size 2" in (folder / "log.txt").read_text()
