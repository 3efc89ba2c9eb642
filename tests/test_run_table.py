"""tools/run_table.py against the scripts: the same folders, checkpoints and result.json numbers
for the same seeds, on fake data with the tiny CLIP; and the shared CLIP's generator bookkeeping."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from clip.model import build_model
from trainers.kit.shared_backbone import SharedBackbones
from tools.config_tag import config_folder
from tools.run_table import main as run_table_main

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts" / "mmadapter"


def tiny_opts(clip_checkpoint):
    """The tiny CLIP (adapters in blocks 3..4), 2 shots of 5 EuroSAT base classes, 2 epochs of 2 steps."""
    return ["DATALOADER.NUM_WORKERS", "0", "USE_CUDA", "False", "MODEL.BACKBONE.NAME", str(clip_checkpoint),
            "INPUT.SIZE", "(32,32)", "TRAINER.MMADAPTER.ADAPTER_START", "3", "TRAINER.MMADAPTER.ADAPTER_END", "4",
            "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "2", "OPTIM.LR", "0.5",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.TEST.BATCH_SIZE", "7"]


def run_folders(output: Path, seed: str, opts):
    """The scripts' folders; the tiny options change the numbers, so their hash names the config folder."""
    model = f"eurosat/shots_16/MultiModalAdapter/{config_folder('vit_b16_ep5', opts)}/seed{seed}"
    return output / "base2new/train_base" / model, output / "base2new/test_new" / model


def test_run_table_equals_the_scripts(tmp_path, fake_data_root, tiny_clip_checkpoint, capsys):
    """Seed 1 against the real scripts; seed 2 reuses the CLIP (a new generator state: the replay
    path, checked exactly below) and the decoded images of seed 1."""
    opts = tiny_opts(tiny_clip_checkpoint)
    scripts_output = tmp_path / "scripts"
    env = dict(os.environ, PYTHON=sys.executable, DATA=str(fake_data_root), OUTPUT=str(scripts_output),
               EXTRA_OPTS=" ".join(opts), QUIET="1", OMP_NUM_THREADS="1")
    for script in ("base2new_train.sh", "base2new_test.sh"):
        done = subprocess.run(["bash", str(SCRIPTS / script), "eurosat", "1"], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]

    table_output = tmp_path / "table"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the scripts ran with one thread: the same reduction order, bitwise
    try:
        run_table_main(["--root", str(fake_data_root), "--output", str(table_output), "--datasets", "eurosat",
                        "--seeds", "1", "2", "--opts", *opts])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "### Base-to-novel generalization" in printed and "MMA = MultiModalAdapter / vit_b16_ep5" in printed
    assert "Whole table: 1 datasets x 2 seeds in" in printed

    for ours, theirs in zip(run_folders(table_output, "1", opts), run_folders(scripts_output, "1", opts)):
        mine, reference = (json.loads((d / "result.json").read_text()) for d in (ours, theirs))
        assert mine["metrics"] == reference["metrics"]
        assert (mine["subsample"], mine["seed"], mine["num_images"]) == (
            reference["subsample"], reference["seed"], reference["num_images"])
    checkpoint, reference = (
        torch.load(d / "adapter_learner/model.pth.tar-2", weights_only=False)["state_dict"]
        for d in (run_folders(table_output, "1", opts)[0], run_folders(scripts_output, "1", opts)[0]))
    assert checkpoint.keys() == reference.keys()
    assert all(torch.equal(checkpoint[k], reference[k]) for k in reference)

    logs = {seed: [(d / "log.txt").read_text() for d in run_folders(table_output, seed, opts)] for seed in ("1", "2")}
    assert "Decoded 10 evaluation images into memory" in logs["1"][0]
    assert "Decoded 10 evaluation images into memory" in logs["1"][1]
    assert "evaluation images into memory" not in logs["2"][0] + logs["2"][1]
    assert json.loads((run_folders(table_output, "2", opts)[1] / "result.json").read_text())["seed"] == 2

    run_table_main(["--root", str(fake_data_root), "--output", str(table_output), "--datasets", "eurosat",
                    "--seeds", "1", "--opts", *opts])
    assert "skip:" in capsys.readouterr().out


def backbone_cfg(replay_init: bool):
    class Cfg:
        class MODEL:
            class BACKBONE:
                NAME = "tiny"
                REPLAY_INIT = replay_init
    return Cfg


@pytest.mark.parametrize("replay_init", [False, True])
def test_a_shared_clip_leaves_the_generator_where_a_fresh_load_would(
        tiny_clip_state_dict, replay_init, tmp_path, monkeypatch):
    import trainers.kit.init_replay as init_replay

    monkeypatch.setenv("CLIP_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(init_replay, "_default", None)
    cfg = backbone_cfg(replay_init)

    def load(cfg, precision):
        return build_model(tiny_clip_state_dict).float()

    def after_fresh_load(seed):
        torch.manual_seed(seed)
        load(cfg, "fp32")
        return torch.get_rng_state()

    shared = SharedBackbones(load)
    for seed in (1, 2, 1, 3):
        torch.manual_seed(seed)
        model = shared.get(cfg, "fp32")
        assert torch.equal(torch.get_rng_state(), after_fresh_load(seed)), seed
    assert shared.get(cfg, "fp32") is model
    if replay_init:  # another process: seeds 2 and 3 jump to the recorded states, building nothing
        monkeypatch.setattr(init_replay, "_default", None)
        monkeypatch.setattr(init_replay, "CLIP", None)
        again = SharedBackbones(load)
        torch.manual_seed(1)
        again.get(cfg, "fp32")
        for seed in (2, 3):
            torch.manual_seed(seed)
            again.get(cfg, "fp32")
            assert torch.equal(torch.get_rng_state(), after_fresh_load(seed)), seed


def test_bench_e2e_writes_a_caltech101_the_reader_accepts(tmp_path):
    import train
    from dassl.config import get_cfg_default
    from dassl.data.datasets import build_dataset
    from tools.bench_e2e import make_caltech_like

    count = make_caltech_like(str(tmp_path), classes=3, per_split={"train": 2, "val": 1, "test": 1}, size=(40, 30))
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    cfg.merge_from_list(["DATASET.NAME", "Caltech101", "DATASET.ROOT", str(tmp_path)])
    dataset = build_dataset(cfg)
    assert count == 12 and (len(dataset.train_x), len(dataset.val), len(dataset.test)) == (6, 3, 3)
    assert dataset.classnames == ["category 000", "category 001", "category 002"]
    assert Image.open(dataset.test[0].impath).size == (40, 30)

