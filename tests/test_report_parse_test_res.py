"""parse_test_res.py reads seed folders of log.txt files like the reference parser."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import parse_test_res

REPO_ROOT = Path(__file__).resolve().parents[1]


def training_log(accuracy: float, early: float = 12.3) -> str:
    """A training log: a result block before "Finish training" (ignored) and the final one after it."""
    return (
        "epoch [5/5] batch [5/5] loss 0.1 (0.2)\n"
        f"=> result\n* total: 100\n* accuracy: {early}%\n"
        "Finish training\nDeploy the last-epoch model\nEvaluate on the *test* set\n"
        f"=> result\n* total: 250\n* correct: 200\n* accuracy: {accuracy:.1f}%\n* error: 20.0%\n"
        f"* macro_f1: 77.7%\nElapsed: 0:00:03\n"
    )


def eval_log(accuracy: float) -> str:
    return f"Loading weights\nEvaluate on the *test* set\n=> result\n* total: 50\n* accuracy: {accuracy:.1f}%\n"


def write_seeds(folder: Path, logs: dict) -> Path:
    for seed, text in logs.items():
        (folder / seed).mkdir(parents=True)
        (folder / seed / "log.txt").write_text(text)
    return folder


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "parse_test_res.py"), *args],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )


def test_training_logs_give_mean_and_population_std(tmp_path):
    folder = write_seeds(tmp_path / "exp", {
        "seed1": training_log(80.1), "seed2": training_log(82.3), "seed3": training_log(84.0),
        ".hidden": "ignored",
    })
    done = run(str(folder))
    assert done.returncode == 0, done.stderr
    mean, std = np.mean([80.1, 82.3, 84.0]), np.std([80.1, 82.3, 84.0])
    assert f"* accuracy: {mean:.2f}% +- {std:.2f}%" in done.stdout
    assert "seed2/log.txt. accuracy: 82.30%." in done.stdout
    assert "12.30" not in done.stdout


def test_ci95_and_test_logs(tmp_path):
    folder = write_seeds(tmp_path / "exp", {"seed1": eval_log(70.0), "seed2": eval_log(74.0)})
    done = run(str(folder), "--test-log", "--ci95")
    assert done.returncode == 0, done.stderr
    half_width = 1.96 * np.std([70.0, 74.0]) / np.sqrt(2)
    assert f"* accuracy: 72.00% +- {half_width:.2f}%" in done.stdout


def test_last_match_after_the_signal_wins_and_unfinished_seeds_are_left_out(tmp_path):
    resumed = eval_log(60.0) + eval_log(65.5)
    folder = write_seeds(tmp_path / "exp", {"seed1": resumed, "seed2": "Evaluate on the *test* set\n"})
    pattern = parse_test_res.metric_pattern("accuracy")
    assert parse_test_res.read_metric(str(folder / "seed1" / "log.txt"), "=> result", pattern) == 65.5
    assert parse_test_res.parse_directory(str(folder), "accuracy", "=> result", False) == {"accuracy": 65.5}


def test_multi_exp_averages_the_experiment_means(tmp_path):
    write_seeds(tmp_path / "all" / "a", {"seed1": eval_log(50.0), "seed2": eval_log(60.0)})
    write_seeds(tmp_path / "all" / "b", {"seed1": eval_log(90.0)})
    done = run(str(tmp_path / "all"), "--test-log", "--multi-exp")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("Average performance\n* accuracy: 72.50%")


def test_keyword_selects_another_metric(tmp_path):
    folder = write_seeds(tmp_path / "exp", {"seed1": training_log(80.0)})
    assert parse_test_res.parse_directory(str(folder), "macro_f1", "Finish training", False) == {"macro_f1": 77.7}


def test_errors_name_the_problem(tmp_path):
    folder = write_seeds(tmp_path / "exp", {"seed1": eval_log(70.0)})
    done = run(str(folder))
    assert done.returncode != 0
    assert "Nothing found" in done.stderr and "--test-log" in done.stderr
    (folder / "notes").mkdir()
    with pytest.raises(SystemExit, match="No log.txt in .*notes"):
        parse_test_res.parse_directory(str(folder), "accuracy", "=> result", False)
    with pytest.raises(SystemExit, match="Not a directory"):
        parse_test_res.parse_directory(str(tmp_path / "missing"), "accuracy", "=> result", False)
