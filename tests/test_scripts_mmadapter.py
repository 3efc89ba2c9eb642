"""scripts/mmadapter/*.sh and scripts/smoke.sh run end to end on fake data with a tiny CLIP (CPU),
write the documented folders and result.json files, and skip a run only when its result.json exists."""
import os
import re
import subprocess
import sys
from pathlib import Path

from outside_references import outside_references
from script_runner import REPO_ROOT, result, run_script, script_env, skipped

SCRIPTS = REPO_ROOT / "scripts" / "mmadapter"
TRAINER = "MultiModalAdapter"


def tiny_opts(clip_checkpoint: Path, *more: str) -> str:
    """Config overrides for the golden tiny CLIP (4 blocks per tower, 32x32 input), 1 short epoch."""
    return " ".join([
        "DATALOADER.NUM_WORKERS", "0", "USE_CUDA", "False", "MODEL.BACKBONE.NAME", str(clip_checkpoint),
        "INPUT.SIZE", "(32,32)", "TRAINER.MMADAPTER.ADAPTER_START", "3", "TRAINER.MMADAPTER.ADAPTER_END", "4",
        "OPTIM.MAX_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "1000", "DATALOADER.TEST.BATCH_SIZE", "1000",
        *more,
    ])


def test_cross_dataset_and_domain_generalization(tmp_path, fake_data_root, tiny_clip_checkpoint):
    output = tmp_path / "output"
    env = script_env(output, fake_data_root, tiny_opts(tiny_clip_checkpoint, "DATASET.NUM_SHOTS", "1"),
                     XD_DATASETS="eurosat", DG_DATASETS="imagenet_a")
    run_script(SCRIPTS / "xd_train.sh", "1", env=env)
    run_script(SCRIPTS / "xd_test.sh", "imagenet_a", "1", "vit_b16_ep1_xd", "1", env=env)
    done = run_script(SCRIPTS / "run_xd_dg.sh", "cpu", "1", env=env)

    model = f"shots_16/{TRAINER}/vit_b16_ep1_xd_tiny/seed1"
    assert sorted(skipped(done.stdout)) == sorted(
        [str(output / f"xd/train/imagenet/{model}"), str(output / f"dg/test/imagenet_a/{model}")]
    )
    source = result(output / f"xd/train/imagenet/{model}")
    assert (source["dataset"], source["subsample"], source["num_images"]) == ("ImageNet", "all", 1000)
    assert source["config_files"]["method"].endswith("configs/trainers/MultiModalAdapter/vit_b16_ep1_xd.yaml")
    target = result(output / f"dg/test/imagenet_a/{model}")
    assert (target["dataset"], target["num_images"]) == ("ImageNetA", 200)
    assert result(output / f"xd/test/eurosat/{model}")["dataset"] == "EuroSAT"
    assert (output / f"xd/train/imagenet/{model}/adapter_learner/model.pth.tar-1").is_file()
    assert "### Cross-dataset transfer" in done.stdout and "### Domain generalization" in done.stdout
    assert "MMA = MultiModalAdapter / vit_b16_ep1_xd" in done.stdout


def test_fewshot_and_run_examples(tmp_path, fake_data_root, tiny_clip_checkpoint):
    output = tmp_path / "output"
    env = script_env(output, fake_data_root, tiny_opts(tiny_clip_checkpoint))
    run_script(SCRIPTS / "fewshot.sh", "eurosat", "1", "2", env=env)
    fewshot = result(output / f"fewshot/train_all/eurosat/shots_2/{TRAINER}/vit_b16_fewshot_2shot_tiny/seed1")
    assert (fewshot["shots"], fewshot["subsample"], fewshot["num_images"]) == (2, "all", 20)

    env = script_env(output, fake_data_root, tiny_opts(tiny_clip_checkpoint, "DATASET.NUM_SHOTS", "1"),
                     DATASETS="eurosat imagenet")
    done = run_script(SCRIPTS / "run_examples.sh", "cpu", "2", env=env)
    for dataset, cfg, classes in [("eurosat", "vit_b16_ep5", 5), ("imagenet", "vit_b16_ep5_imnet", 500)]:
        base = result(output / f"base2new/train_base/{dataset}/shots_16/{TRAINER}/{cfg}_tiny/seed2")
        new = result(output / f"base2new/test_new/{dataset}/shots_16/{TRAINER}/{cfg}_tiny/seed2")
        assert (base["subsample"], new["subsample"]) == ("base", "new")
        assert base["config_files"]["method"].endswith(f"{cfg}.yaml")
        assert base["num_images"] >= classes
    assert re.search(r"^\| \*\*average \(2 datasets\)\*\* +(\| +[\d.]+ \(1\) +){3}\|$", done.stdout, flags=re.M)
    assert "### Few-shot learning (all classes)" in done.stdout


def test_argument_errors_are_clear(tmp_path):
    env = script_env(tmp_path / "output", tmp_path / "data", "")
    done = run_script(SCRIPTS / "base2new_train.sh", env=env, expect_rc=2)
    assert "usage: bash" in done.stderr and "base2new_train.sh DATASET SEED [CFG]" in done.stderr
    done = run_script(SCRIPTS / "base2new_train.sh", "eurosatt", "1", env=env, expect_rc=1)
    assert "unknown dataset 'eurosatt'" in done.stderr and " eurosat " in done.stderr
    done = run_script(SCRIPTS / "base2new_train.sh", "eurosat", "one", env=env, expect_rc=1)
    assert "SEED must be an integer, got 'one'" in done.stderr
    done = run_script(SCRIPTS / "fewshot.sh", "eurosat", "1", "3", env=env, expect_rc=1)
    assert "unknown config 'vit_b16_fewshot_3shot'" in done.stderr and "vit_b16_fewshot_4shot" in done.stderr
    done = run_script(SCRIPTS / "base2new_train.sh", "eurosat", "1", env=dict(env, PYTHON="no-such-python"), expect_rc=1)
    assert "no Python interpreter 'no-such-python'" in done.stderr
    done = run_script(SCRIPTS / "base2new_test.sh", "eurosat", "1", env=env, expect_rc=1)
    assert "no finished training run" in done.stderr
    assert "Train it first: bash" in done.stderr and "base2new_train.sh eurosat 1 vit_b16_ep5" in done.stderr


def test_smoke_run_end_to_end_then_skip_only_finished_runs(tmp_path):
    work = tmp_path / "smoke"
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    done = run_script(REPO_ROOT / "scripts" / "smoke.sh", str(work), env=env)
    runs = {
        f"base2new/{phase}/{dataset}/shots_16/{TRAINER}/vit_b16_ep5_smoke/seed{seed}"
        for phase in ("train_base", "test_new") for dataset in ("eurosat", "dtd") for seed in (1, 2)
    }
    for run in runs:
        assert result(work / "output" / run)["trainer"] == TRAINER
    assert re.search(r"^\| eurosat +(\| +[\d.]+ ± [\d.]+ \(2\) +){3}\|$", done.stdout, flags=re.M)
    assert re.search(r"^Smoke run finished in \d+ s", done.stdout, flags=re.M)
    shown = done.stdout + done.stderr
    assert not re.findall(r"^.*(?:[Ww]arning|WARNING).*$", shown, flags=re.M), "the smoke run prints no warning"
    logs = "".join(path.read_text() for path in sorted((work / "output").rglob("log.txt")))
    assert not outside_references(shown + logs), outside_references(shown + logs)

    # README's prediction example, as written: the run's own config.yaml supplies every training option
    trained = work / "output" / f"base2new/train_base/eurosat/shots_16/{TRAINER}/vit_b16_ep5_smoke/seed1"
    photo = next((work / "data" / "eurosat" / "2750").rglob("*.jpg"))
    predicted = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "predict.py"), "--model-dir", str(trained),
         "--classnames", "forest", "river", "sea or lake", "--images", str(photo), "--topk", "3"],
        env=env, capture_output=True, text=True, cwd=REPO_ROOT)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    ranking = predicted.stdout.splitlines()
    assert ranking[0] == str(photo) and [line.split()[0] for line in ranking[1:]] == ["1.", "2.", "3."]

    unfinished = work / "output" / f"base2new/train_base/dtd/shots_16/{TRAINER}/vit_b16_ep5_smoke/seed2"
    accuracy = result(unfinished)["metrics"]["accuracy"]
    (unfinished / "result.json").unlink()
    again = run_script(REPO_ROOT / "scripts" / "smoke.sh", str(work), env=dict(env, EXTRA_OPTS="TRAIN.PRINT_FREQ 7"))
    assert len(skipped(again.stdout)) == 7 and str(unfinished) not in skipped(again.stdout)
    assert result(unfinished)["metrics"]["accuracy"] == accuracy
    log = (unfinished / "log.txt").read_text()
    resumed = log[log.index("a new process appends to this log"):]
    assert "Previous epoch: 5" in resumed and "epoch [" not in resumed
    assert "'TRAIN.PRINT_FREQ', '7'" in resumed  # the caller's EXTRA_OPTS come after the smoke settings
