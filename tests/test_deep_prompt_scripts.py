"""Every script of MaPLe and PromptSRC (scripts/maple/, scripts/promptsrc/) runs on fake data with the
golden tiny CLIP on CPU: the documented folders and result.json files, evaluation runs loading the model
their training run saved, the configs each protocol uses."""
import pytest

from test_baseline_scripts import result, run_script, script_env, skipped, tiny_opts, warm_python  # noqa: F401

# method folder -> (trainer, base-to-novel cfg, cross-dataset cfg, 2-shot cfg on EuroSAT, saved model folder)
METHODS = {
    "maple": ("MaPLe", "vit_b16_c2_ep5_batch4_2ctx", "vit_b16_c2_ep5_batch4_2ctx_cross_datasets",
              "vit_b16_c2_ep5_batch4_2ctx", "MultiModalPromptLearner"),
    "promptsrc": ("PromptSRC", "vit_b16_c2_ep20_batch4_4+4ctx", "vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets",
                  "vit_b16_c2_ep50_batch4_4+4ctx_few_shot_gpa45", "VLPromptLearner"),
}
# fp32 on CPU, and depth 3 (the tiny CLIP has 4 blocks per tower, the released configs prompt 9).
TINY_OPTS = {"maple": "TRAINER.MAPLE.PREC fp32 TRAINER.MAPLE.PROMPT_DEPTH 3",
             "promptsrc": "TRAINER.PROMPTSRC.PREC fp32 TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION 3 "
                          "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT 3"}


@pytest.mark.parametrize("method", list(METHODS))
def test_every_script_of_the_method(method, tmp_path, fake_data_root, tiny_clip_checkpoint, warm_python):  # noqa: F811
    trainer, b2n_cfg, xd_cfg, fewshot_cfg, model_folder = METHODS[method]
    output = tmp_path / "output"
    env = script_env(output, fake_data_root, tiny_opts(tiny_clip_checkpoint, *TINY_OPTS[method].split()), warm_python,
                     DATASETS="eurosat", XD_DATASETS="eurosat", DG_DATASETS=" ")

    log = run_script(method, "run_examples", "cpu", "1", env=env)
    train_dir = output / f"base2new/train_base/eurosat/shots_16/{trainer}/{b2n_cfg}/seed1"
    test_dir = output / f"base2new/test_new/eurosat/shots_16/{trainer}/{b2n_cfg}/seed1"
    base, new = result(train_dir), result(test_dir)
    assert (base["trainer"], base["subsample"], base["num_images"]) == (trainer, "base", 10)
    assert (new["subsample"], new["num_images"]) == ("new", 10)
    assert base["config_files"]["method"].endswith(f"configs/trainers/{trainer}/{b2n_cfg}.yaml")
    checkpoint = train_dir / model_folder / "model.pth.tar-1"
    assert checkpoint.is_file()
    assert f'Loading weights to {model_folder} from "{checkpoint}"' in (test_dir / "log.txt").read_text()
    log += run_script(method, "base2new_train", "eurosat", "1", env=env)
    log += run_script(method, "base2new_test", "eurosat", "1", env=env)
    assert skipped(log) == [str(train_dir), str(test_dir)]

    # Cross-dataset: the ImageNet source run reads EuroSAT's images (1 shot) to stay fast on a CPU.
    source_opts = env["EXTRA_OPTS"] + " DATASET.NAME EuroSAT DATASET.NUM_SHOTS 1"
    run_script(method, "xd_train", "1", env=dict(env, EXTRA_OPTS=source_opts))
    log = run_script(method, "run_xd_dg", "cpu", "1", env=env)
    source_dir = output / f"xd/train/imagenet/shots_16/{trainer}/{xd_cfg}/seed1"
    target_dir = output / f"xd/test/eurosat/shots_16/{trainer}/{xd_cfg}/seed1"
    assert skipped(log)[0] == str(source_dir)
    assert (result(target_dir)["dataset"], result(target_dir)["subsample"]) == ("EuroSAT", "all")

    run_script(method, "fewshot", "eurosat", "1", "2", env=env)
    fewshot = result(output / f"fewshot/train_all/eurosat/shots_2/{trainer}/{fewshot_cfg}/seed1")
    assert (fewshot["shots"], fewshot["subsample"], fewshot["num_images"]) == (2, "all", 20)
