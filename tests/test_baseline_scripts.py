"""Every script of every baseline (scripts/{zsclip,coop,cocoop,clip_adapter,kgcoop,mmapp,linear_probe,maple,
promptsrc}/) runs on fake data with the golden tiny CLIP on CPU, writes the documented folders and result.json files, and the
evaluation runs load the model their training run saved."""
import re
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from datasets.eurosat import NEW_CNAMES
from script_runner import method_script, result, run_script, script_env, skipped

REPO_ROOT = Path(__file__).resolve().parents[1]

# method folder -> (trainer, base-to-novel cfg, cross-dataset cfg, 2-shot cfg, saved model folder)
METHODS = {
    "zsclip": ("ZeroshotCLIP", "vit_b16", "vit_b16", "vit_b16", None),
    "coop": ("CoOp", "vit_b16_ctxv1", "vit_b16_ep50_ctxv1", "vit_b16_ep100", "prompt_learner"),
    "cocoop": ("CoCoOp", "vit_b16_c4_ep10_batch1_ctxv1", "vit_b16_c4_ep10_batch1_ctxv1",
               "vit_b16_c4_ep10_batch1_ctxv1", "prompt_learner"),
    "clip_adapter": ("CLIP_Adapter", "vit_b16", "vit_b16_ep50", "vit_b16_ep100", "clip_adapter"),
    "kgcoop": ("KgCoOp", "vit_b16_ep100_ctxv1", "vit_b16_ep100_ctxv1_xd", "vit_b16_ep100_ctxv1", "prompt_learner"),
    "mmapp": ("MultiModalAdapterPP", "b2n_cupl", "x2d", "b2n_cupl", "adapter_learner"),
    "maple": ("MaPLe", "vit_b16_c2_ep5_batch4_2ctx", "vit_b16_c2_ep5_batch4_2ctx_cross_datasets",
              "vit_b16_c2_ep5_batch4_2ctx", "MultiModalPromptLearner"),
    "promptsrc": ("PromptSRC", "vit_b16_c2_ep20_batch4_4+4ctx", "vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets",
                  "vit_b16_c2_ep50_batch4_4+4ctx_few_shot_gpa45", "VLPromptLearner"),
}
# The released adapter layers (5..12) do not exist in the tiny CLIP's 4 blocks.
# The deep-prompt configs prompt 9 blocks; fp32 as the CPU runs anyway.
TINY_METHOD_OPTS = {
    "mmapp": ("TRAINER.MMADAPTERPP.ADAPTER_START", "3", "TRAINER.MMADAPTERPP.ADAPTER_END", "4"),
    "maple": ("TRAINER.MAPLE.PREC", "fp32", "TRAINER.MAPLE.PROMPT_DEPTH", "3"),
    "promptsrc": ("TRAINER.PROMPTSRC.PREC", "fp32", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "3",
                  "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "3"),
}
# Methods whose ImageNet source run reads EuroSAT's images instead (see the test).
TEXT_HEAVY = ("coop", "cocoop", "kgcoop", "mmapp", "maple", "promptsrc")


def write_fake_descriptions(data_root: Path) -> None:
    """MMA++'s description file for the fake EuroSAT, two sentences a class, laid out as the real ones."""
    table = {name: [f"a satellite photo of {name}.", f"{name} seen from above."] for name in NEW_CNAMES.values()}
    (data_root / "cupl").mkdir(exist_ok=True)
    (data_root / "cupl" / "eurosat.py").write_text(f"EUROSAT_TEMPLATES = {table!r}\n")


def tiny_opts(clip_checkpoint: Path, *more: str) -> str:
    """The golden tiny CLIP (32x32 input), CPU, no workers, one epoch in one or two big batches."""
    return " ".join([
        "DATALOADER.NUM_WORKERS", "0", "USE_CUDA", "False", "MODEL.BACKBONE.NAME", str(clip_checkpoint),
        "INPUT.SIZE", "(32,32)", "OPTIM.MAX_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "500",
        "DATALOADER.TEST.BATCH_SIZE", "500", *more,
    ])


def run(method: str, script: str, *args: str, env: Dict[str, str], expect_rc: int = 0) -> str:
    done = run_script(method_script(method, script), *args, env=env, expect_rc=expect_rc)
    return done.stdout + done.stderr


@pytest.mark.parametrize("method", list(METHODS))
def test_every_script_of_the_method(method, tmp_path, fake_data_root, tiny_clip_checkpoint, warm_python):
    trainer, b2n_cfg, xd_cfg, fewshot_cfg, model_folder = METHODS[method]
    if method == "mmapp":
        write_fake_descriptions(fake_data_root)
    output = tmp_path / "output"
    env = script_env(output, fake_data_root, tiny_opts(tiny_clip_checkpoint, *TINY_METHOD_OPTS.get(method, ())),
                     warm_python, DATASETS="eurosat", XD_DATASETS="eurosat", DG_DATASETS=" ")

    # Base-to-novel: run_examples does train + test; the single-step scripts then find them finished.
    log = run(method, "run_examples", "cpu", "1", env=env)
    train_dir = output / f"base2new/train_base/eurosat/shots_16/{trainer}/{b2n_cfg}_tiny/seed1"
    test_dir = output / f"base2new/test_new/eurosat/shots_16/{trainer}/{b2n_cfg}_tiny/seed1"
    base, new = result(train_dir), result(test_dir)
    assert (base["trainer"], base["subsample"], base["num_images"]) == (trainer, "base", 10)
    assert (new["subsample"], new["num_images"]) == ("new", 10)
    assert base["config_files"]["method"].endswith(f"configs/trainers/{trainer}/{b2n_cfg}.yaml")
    assert re.search(r"^\| \*\*average \(1 datasets?\)\*\* +\| +[\d.]+ \(1\) ", log, flags=re.M), log
    if model_folder:
        assert (train_dir / model_folder / "model.pth.tar-1").is_file()
        assert f'Loading weights to {model_folder} from "{train_dir / model_folder / "model.pth.tar-1"}"' in (
            test_dir / "log.txt").read_text()
    else:
        assert "Zero-shot CLIP has nothing to train" not in (train_dir / "log.txt").read_text()
    log = run(method, "base2new_train", "eurosat", "1", env=env)
    log += run(method, "base2new_test", "eurosat", "1", env=env)
    assert skipped(log) == [str(train_dir), str(test_dir)]

    # Cross-dataset: train on ImageNet (1 shot). Learning prompts for 1000 classes takes too long on a
    # CPU, so the source runs of the methods that encode many prompts read EuroSAT's images in ImageNet's place.
    # The same options for every script of the protocol: the tag stands for them.
    xd_opts = env["EXTRA_OPTS"] + " DATASET.NUM_SHOTS 1" + (" DATASET.NAME EuroSAT" if method in TEXT_HEAVY else "")
    xd_env = dict(env, EXTRA_OPTS=xd_opts)
    run(method, "xd_train", "1", env=xd_env)
    source_dir = output / f"xd/train/imagenet/shots_16/{trainer}/{xd_cfg}_tiny/seed1"
    if method not in TEXT_HEAVY:
        assert (result(source_dir)["dataset"], result(source_dir)["num_images"]) == ("ImageNet", 1000)
    run(method, "xd_test", "eurosat", "1", env=xd_env)
    log = run(method, "run_xd_dg", "cpu", "1", env=xd_env)
    target_dir = output / f"xd/test/eurosat/shots_16/{trainer}/{xd_cfg}_tiny/seed1"
    assert skipped(log) == [str(source_dir), str(target_dir)]
    assert (result(target_dir)["dataset"], result(target_dir)["subsample"]) == ("EuroSAT", "all")

    # Few-shot: the 2-shot default config follows CoOp's schedule where the method has one (PromptSRC:
    # the GPA setting the release gives EuroSAT).
    run(method, "fewshot", "eurosat", "1", "2", env=env)
    fewshot = result(output / f"fewshot/train_all/eurosat/shots_2/{trainer}/{fewshot_cfg}_tiny/seed1")
    assert (fewshot["shots"], fewshot["subsample"], fewshot["num_images"]) == (2, "all", 20)


def test_linear_probe_fewshot_script(tmp_path, fake_data_root, tiny_clip_checkpoint, warm_python):
    output = tmp_path / "output"
    env = script_env(output, fake_data_root, tiny_opts(tiny_clip_checkpoint), warm_python)
    run("linear_probe", "fewshot", "eurosat", "1", "2", env=env)
    run_dir = output / "fewshot/train_all/eurosat/shots_2/LinearProbe/vit_b16_tiny/seed1"
    fewshot = result(run_dir)
    assert (fewshot["trainer"], fewshot["shots"], fewshot["num_images"]) == ("LinearProbe", 2, 20)
    log = (run_dir / "log.txt").read_text()
    assert re.search(r"^Chosen C [\d.e+-]+ \(val accuracy [\d.]+%\)$", log, flags=re.M)
    assert "Features: train (20, 64), val (10, 64)" in log
    assert (run_dir / "linear_probe" / "model.pth.tar-1").is_file()


def test_coop_fewshot_schedule_picks_coop_configs(tmp_path):
    """1 shot -> 50 epochs, 2 and 4 -> 100, 8 and 16 -> 200, ImageNet always 50 (a typo is refused)."""
    env = script_env(tmp_path / "output", tmp_path / "data", "")
    schedule = REPO_ROOT / "scripts" / "coop" / "fewshot_schedule.sh"
    calls = "; ".join(f"coop_fewshot_cfg {d} {k}" for d, k in
                      [("dtd", 1), ("dtd", 2), ("dtd", 4), ("dtd", 8), ("dtd", 16), ("imagenet", 16)])
    done = subprocess.run(["bash", "-c", f"source {schedule}; {calls}"], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["vit_b16_ep50", "vit_b16_ep100", "vit_b16_ep100", "vit_b16", "vit_b16",
                                   "vit_b16_ep50"]
    log = run("coop", "fewshot", "eurosat", "1", "two", env=env, expect_rc=1)
    assert "SHOTS must be an integer, got 'two'" in log
