"""The local back-end: a 2 x 2 x 2 grid on fake data, 2 runs at once on the CPU, stopped midway
and run again: every run ends exactly once and the tables are written."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sweep_helpers import run_folders, tiny_sweep_file

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
