"""scripts/attnmma/: the base-to-novel, cross-dataset and few-shot scripts of both protocols, and every
study for the attention adapter, MMA and CLIP-Adapter, on fake data with the tiny CLIP."""
import runpy
import subprocess
from pathlib import Path
from typing import List

import pytest

from script_runner import (
    COMMANDS_LOG, REPO_ROOT, method_script, option_values, recorded_commands, result, run_script,
    script_env,
)

TRAINER = "AttentionMultiModalAdapter"


class Commands:
    """The train.py commands the scripts of one test launched."""

    def __init__(self, log: Path) -> None:
        self.log = log

    @property
    def commands(self) -> List[List[str]]:
        return recorded_commands(self.log)


@pytest.fixture
def launched(tmp_path):
    return Commands(tmp_path / "train_commands.jsonl")


@pytest.fixture
def env_for(launched, warm_python, tmp_path, fake_data_root, tiny_clip_checkpoint):
    opts = " ".join([
        "DATALOADER.NUM_WORKERS 0 USE_CUDA False INPUT.SIZE (32,32) OPTIM.MAX_EPOCH 1",
        "TRAINER.ATTNMMA.PREC fp32 TRAINER.CLIP_ADAPTER.PREC fp32",
        "TRAINER.MMADAPTER.ADAPTER_START 1 TRAINER.MMADAPTER.ADAPTER_END 4",
        f"MODEL.BACKBONE.NAME {tiny_clip_checkpoint}",
    ])

    def _env(**more):
        return script_env(tmp_path / "output", fake_data_root, opts, warm_python, **{COMMANDS_LOG: str(launched.log)}, **more)

    return _env


def run(script: str, *args: str, env) -> str:
    return run_script(method_script("attnmma", script), *args, env=env).stdout


def test_base_to_novel_both_protocols_and_skips(env_for, tmp_path, launched):
    env = env_for(DATASETS="eurosat")
    log = run("run_examples", "cpu", "1", env=env)
    log += run("run_examples_reference", "cpu", "1", env=env)
    out = tmp_path / "output" / "base2new"
    for cfg in ("vit_b16_coop", "vit_b16_reference"):
        base = result(out / f"train_base/eurosat/shots_16/{TRAINER}/{cfg}_tiny/seed1")
        new = result(out / f"test_new/eurosat/shots_16/{TRAINER}/{cfg}_tiny/seed1")
        assert (base["subsample"], new["subsample"]) == ("base", "new")
        assert base["config_files"]["method"].endswith(f"{TRAINER}/{cfg}.yaml")
        assert f"AttnMMA ({cfg}_tiny) = {TRAINER} / {cfg}_tiny" in log  # one column group per config
    reference_test_log = (out / f"test_new/eurosat/shots_16/{TRAINER}/vit_b16_reference_tiny/seed1/log.txt").read_text()
    assert "TEST.FINAL_MODEL is best_val: loading model-best.pth.tar" in reference_test_log
    # Every run stores and reuses the image embeddings under $OUTPUT/embeddings.
    assert all(option_values(c)["TRAINER.ATTNMMA.FEATURE_CACHE_DIR"] == f"{tmp_path}/output/embeddings"
               for c in launched.commands)
    assert list((tmp_path / "output" / "embeddings").glob("*.pt"))
    again = run("base2new_train", "eurosat", "1", env=env) + run("base2new_test", "eurosat", "1", env=env)
    assert again.count("skip:") == 2 and len(launched.commands) == 4


def test_cross_dataset_and_few_shot(env_for, tmp_path):
    env = env_for(XD_DATASETS="eurosat", DG_DATASETS=" ")
    xd_env = dict(env, EXTRA_OPTS=env["EXTRA_OPTS"] + " TEST.FINAL_MODEL best_val")
    run("run_xd_dg", "cpu", "1", env=xd_env)
    run("fewshot", "dtd", "1", "2", env=env)
    out = tmp_path / "output"
    source = out / f"xd/train/imagenet/shots_16/{TRAINER}/vit_b16_coop_tiny/seed1"
    assert result(source)["num_images"] == 1000
    log = (source / "log.txt").read_text()  # ImageNet's val set is its test set: encoded once, used for both
    assert "Evaluating on stored embeddings: test (1,000 images)" in log and "stored embeddings: val" not in log
    assert "Evaluate on the *val* set" in log
    assert result(out / f"xd/test/eurosat/shots_16/{TRAINER}/vit_b16_coop_tiny/seed1")["subsample"] == "all"
    assert result(out / f"fewshot/train_all/dtd/shots_2/{TRAINER}/vit_b16_coop_tiny/seed1")["shots"] == 2


def run_status(script: str, *args: str, env, expect_rc: int) -> subprocess.CompletedProcess:
    return run_script(method_script("attnmma", script), *args, env=env, expect_rc=expect_rc)


def test_a_study_for_the_three_methods(env_for, tmp_path, launched, fake_data_root):
    env = env_for(STUDY_DATASETS="eurosat", LABEL_NOISE_RATES="0.2")
    log = run("run_study", "label_noise", "cpu", "1", env=env)
    root = tmp_path / "output" / "studies" / "label_noise" / "rate_0.2" / "base2new"
    for trainer, cfg in ((TRAINER, "vit_b16_coop"), ("MultiModalAdapter", "vit_b16_ep5"),
                         ("CLIP_Adapter", "vit_b16_arxiv")):
        assert result(root / f"train_base/eurosat/shots_16/{trainer}/{cfg}_tiny/seed1")["subsample"] == "base"
        assert result(root / f"test_new/eurosat/shots_16/{trainer}/{cfg}_tiny/seed1")["subsample"] == "new"
        assert f" = {trainer} / {cfg}" in log  # the report's column group of that method
    assert "##### label_noise: rate_0.2" in log
    assert all(option_values(c)["DATASET.LABEL_NOISE_RATE"] == "0.2" for c in launched.commands)
    assert (fake_data_root / "eurosat/split_fewshot/shot_16-seed_1-base_1to1_ceil-imbalance_1-labelnoise_0.2.pkl").is_file()


STUDIES = {
    "image_noise": (dict(IMAGE_NOISE_STDS="0.3"), {"std_0.3": {"INPUT.IMAGE_NOISE_STD": "0.3"},
                                                   "std_0.3_test_leak": {"INPUT.IMAGE_NOISE_AT_TEST": "True"}}),
    "class_ratio": (dict(CLASS_RATIOS="3"), {"ratio_3to1": {"DATASET.BASE_NEW_RATIO": "3",
                                                             "DATASET.BASE_ROUNDING": "ceil"}}),
    "imbalance": (dict(IMBALANCE_FACTORS="4.0"), {"factor_4.0": {"DATASET.IMBALANCE_FACTOR": "4.0"}}),
    "heads": (dict(HEADS_LIST="2"), {"heads_2": {"TRAINER.ATTNMMA.HEADS": "2"}}),
    "prompts": (dict(PROMPT_LIST="ensemble"), {"prompt_ensemble": {"TRAINER.ATTNMMA.PROMPT": "ensemble"}}),
}


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_each_study_of_the_attention_adapter(env_for, tmp_path, launched, study):
    settings_env, expected = STUDIES[study]
    run("study", study, "attnmma", "eurosat", "1", env=env_for(**settings_env))
    for setting, options in expected.items():
        root = tmp_path / "output" / "studies" / study / setting / "base2new"
        base = result(root / f"train_base/eurosat/shots_16/{TRAINER}/vit_b16_coop_tiny/seed1")
        new = result(root / f"test_new/eurosat/shots_16/{TRAINER}/vit_b16_coop_tiny/seed1")
        assert (base["subsample"], new["subsample"]) == ("base", "new")
        runs = [option_values(c) for c in launched.commands if f"/studies/{study}/{setting}/" in " ".join(c)]
        assert len(runs) == 2 and all(run_options.items() >= options.items() for run_options in runs)
    if study == "class_ratio":  # 10 classes at 3:1: 10 - floor(10 / 4) = 8 base, 2 new
        assert (base["num_images"], new["num_images"]) == (16, 4)


def test_text_noise_scores_the_clean_model_with_noisy_names(env_for, tmp_path, launched):
    run("study", "text_noise", "attnmma", "eurosat", "1", "vit_b16_reference", env=env_for(TYPO_RATES="0.2"))
    study = tmp_path / "output" / "studies" / "text_noise"
    clean = study / f"clean/base2new/train_base/eurosat/shots_16/{TRAINER}/vit_b16_reference_tiny/seed1"
    assert result(clean)["subsample"] == "base"
    noisy = study / "typo_swap_0.2/base2new"
    for phase, subsample in (("train_base", "base"), ("test_new", "new")):
        run_dir = noisy / f"{phase}/eurosat/shots_16/{TRAINER}/vit_b16_reference_tiny/seed1"
        assert result(run_dir)["subsample"] == subsample
        assert f'Loading weights to adapter from "{clean}/adapter/model-best.pth.tar"' in (run_dir / "log.txt").read_text()
    evaluations = [c for c in launched.commands if "--eval-only" in c]
    assert len(evaluations) == 2
    assert all(option_values(c)["DATASET.CLASSNAME_TYPO_RATE"] == "0.2" for c in evaluations)


def test_study_errors_are_named(env_for):
    done = run_status("study", "heads", "mmadapter", "eurosat", "1", env=env_for(), expect_rc=1)
    assert done.returncode == 1 and "the heads study varies a setting of the attention adapter" in done.stderr
    done = run_status("study", "colour", "attnmma", "eurosat", "1", env=env_for(), expect_rc=1)
    assert done.returncode == 1 and "unknown STUDY 'colour'" in done.stderr
    done = run_status("study", "heads", "coop", "eurosat", "1", env=env_for(), expect_rc=2)
    assert done.returncode == 2 and "METHOD must be attnmma, mmadapter or clip_adapter" in done.stderr


def test_training_time_benchmark_prints_a_row_per_dataset(capsys):
    bench = runpy.run_path(str(REPO_ROOT / "scripts/attnmma/bench_train_time.py"), run_name="bench")
    bench["main"](["--device", "cpu", "--datasets", "eurosat", "oxford_pets", "--epochs", "1",
                   "--encode-images", "0", "--literal"])
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    rows = {cells[0]: cells for cells in lines if cells[:1] in (["eurosat"], ["oxford_pets"])}
    assert rows["eurosat"][1:3] == ["5", "80"] and rows["oxford_pets"][1:3] == ["19", "304"]
    assert rows["eurosat"][-1].endswith("x") and rows["eurosat"][-3] == "n/a"
