"""The slurm back-end: the sbatch file and job grouping submitit gets, and a job run by submitit's
local executor that is pre-empted (USR2, as Slurm sends it ahead of the end) and requeued."""
import json
import os
import signal
import time
from pathlib import Path

from sweep_helpers import run_folders, tiny_sweep_file
from tools.sweeping.grid import expand
from tools.sweeping.slurm import group_runs, submit_sweep
from tools.sweeping.spec import load_spec, parse_spec

FAKE_SBATCH = """#!/bin/sh
cp "$1" "$SBATCH_COPY"
echo "Submitted batch job 4242"
"""


def test_sbatch_parameters_and_one_job_per_method_and_dataset(tmp_path, monkeypatch, fake_data_root, tiny_clip_checkpoint):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "srun").write_text("#!/bin/sh\n")  # submitit looks for it
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("SBATCH_COPY", str(tmp_path / "job.sh"))
    spec = load_spec(str(tiny_sweep_file(tmp_path, fake_data_root, tiny_clip_checkpoint)))
    runs = expand(spec)
    settings = {"partition": "gpu", "account": "proj42", "time": 90, "gpus_per_task": 1, "cpus_per_task": 6,
                "mem_gb": 24, "array_parallelism": 3, "runs_per_job": 3, "sbatch": {"qos": "high"},
                "setup": ["module load cuda/12.1"]}
    jobs = submit_sweep(spec, runs, settings, folder=str(tmp_path / "submitit"))
    sbatch = (tmp_path / "job.sh").read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=proj42", "#SBATCH --time=90", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=6", "#SBATCH --mem=24GB", "#SBATCH --array=0-3%3", "#SBATCH --qos=high",
                 "#SBATCH --signal=USR2@90", "#SBATCH --job-name=sweep_tiny", "module load cuda/12.1"):
        assert line in sbatch, line
    groups = [[(run.dataset, run.shots, run.seed) for run in job.submission().function.runs] for job in jobs]
    assert groups == [[("eurosat", 1, 1), ("eurosat", 2, 1), ("eurosat", 1, 2)], [("eurosat", 2, 2)],
                      [("dtd", 1, 1), ("dtd", 2, 1), ("dtd", 1, 2)], [("dtd", 2, 2)]]


def test_an_evaluation_stays_in_the_job_of_its_training_run():
    spec = parse_spec({"protocol": "xd", "methods": ["mmadapter", "coop"], "datasets": ["dtd", "imagenet_r"],
                       "seeds": [1, 2]}, "xd")
    jobs = group_runs(expand(spec), runs_per_job=4)
    assert [[(run.method, run.phase, run.dataset, run.seed) for run in job] for job in jobs] == [
        [("mmadapter", "train", "imagenet", 1), ("mmadapter", "test", "dtd", 1), ("mmadapter", "test", "imagenet_r", 1)],
        [("mmadapter", "train", "imagenet", 2), ("mmadapter", "test", "dtd", 2), ("mmadapter", "test", "imagenet_r", 2)],
        [("coop", "train", "imagenet", 1), ("coop", "test", "dtd", 1), ("coop", "test", "imagenet_r", 1)],
        [("coop", "train", "imagenet", 2), ("coop", "test", "dtd", 2), ("coop", "test", "imagenet_r", 2)],
    ]


def test_a_preempted_job_is_requeued_and_its_run_resumes(tmp_path, fake_data_root, tiny_clip_checkpoint):
    sweep = tiny_sweep_file(tmp_path, fake_data_root, tiny_clip_checkpoint, datasets=("eurosat",), seeds=(1,),
                            shots=(2,), extra="OPTIM.MAX_EPOCH 3")
    spec = load_spec(str(sweep))
    runs = expand(spec, ("USE_CUDA", "False"))
    folder = run_folders(tmp_path, datasets=("eurosat",), seeds=(1,), shots=(2,))[0]
    jobs = submit_sweep(spec, runs, {"time": 30, "gpus_per_task": 0, "cpus_per_task": 1},
                        folder=str(tmp_path / "submitit"), cluster="local")
    deadline = time.time() + 900
    while not (folder / "resume.pth").is_file() and time.time() < deadline:  # epoch 1 of 3 is saved
        time.sleep(0.02)
    claim = json.loads((folder / "sweep_running.json").read_text())
    os.kill(claim["pid"], signal.SIGUSR2)
    states = jobs[0].result()
    assert states == {str(folder): "done"}
    log = (folder / "log.txt").read_text()
    assert log.count("Finish training") == 1
    assert "a new process appends to this log" in log and "epochs done, continuing at epoch" in log
    assert "this job is preempted" in jobs[0].stderr()


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_preempted_job_of_torchrun_runs_stops_its_child_first(tmp_path, fake_data_root, tiny_clip_checkpoint):
    """Two processes a run (gloo on the CPU): the job's run is a torchrun child; on USR2 the job sends
    it SIGTERM, both ranks stop at one step, rank 0 saves, and the requeued job resumes the run."""
    sweep = tiny_sweep_file(tmp_path, fake_data_root, tiny_clip_checkpoint, datasets=("eurosat",), seeds=(1,),
                            shots=(2,), extra="OPTIM.MAX_EPOCH 3")
    spec = load_spec(str(sweep))
    folder = run_folders(tmp_path, datasets=("eurosat",), seeds=(1,), shots=(2,))[0]
    jobs = submit_sweep(spec, expand(spec, ("USE_CUDA", "False")), {"time": 30, "gpus_per_task": 0, "cpus_per_task": 1},
                        folder=str(tmp_path / "submitit"), cluster="local", processes=2)
    deadline = time.time() + 900
    while not (folder / "resume.pth").is_file() and time.time() < deadline:
        time.sleep(0.02)
    child = json.loads((folder / "sweep_running.json").read_text())["pid"]
    os.kill(parent_pid(child), signal.SIGUSR2)
    assert jobs[0].result() == {str(folder): "done"}
    log = (folder / "log.txt").read_text()
    assert log.count("Distributed run: world size 2 (gloo)") == 2 and log.count("Finish training") == 1
    assert "Stopped by SIGTERM" in log and "epochs done, continuing at epoch" in log
    assert not (folder / "sweep_failed.json").exists()
