"""One run on several processes: the batch split and evaluation shards, and torchrun on the CPU
(gloo) against one process, including a stop and resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import RandomSampler

from dassl.data.samplers import BatchSplitSampler, ShardSampler

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_ranks_split_exactly_the_single_process_batches():
    size, batch, world = 23, 6, 3
    torch.manual_seed(5)
    single = [list(RandomSampler(range(size))) for _ in range(2)]  # two epochs
    parts = {}
    for rank in range(world):
        torch.manual_seed(5)
        sampler = BatchSplitSampler(size, True, batch, world, rank)
        parts[rank] = [list(sampler) for _ in range(2)]
        assert len(sampler) == (size // batch) * 2
    for epoch in range(2):
        for step in range(size // batch):
            merged = [index for rank in range(world) for index in parts[rank][epoch][2 * step:2 * step + 2]]
            assert merged == single[epoch][step * batch:(step + 1) * batch]


def test_shards_cover_an_odd_evaluation_set_once_in_order():
    assert [list(ShardSampler(7, 2, rank)) for rank in range(2)] == [[0, 1, 2, 3], [4, 5, 6]]
    assert [list(ShardSampler(2, 3, rank)) for rank in range(3)] == [[0], [1], []]


def train_command(data_root: Path, clip: Path, output: Path, processes: int):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    return [*(launcher if processes > 1 else [sys.executable]), str(REPO_ROOT / "train.py"),
            "--root", str(data_root), "--seed", "1", "--trainer", "MultiModalAdapter",
            "--dataset-config-file", str(REPO_ROOT / "configs/datasets/eurosat.yaml"),
            "--config-file", str(REPO_ROOT / "configs/trainers/MultiModalAdapter/vit_b16_ep5.yaml"),
            "--output-dir", str(output), "DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", "base",
            "USE_CUDA", "False", "DATALOADER.NUM_WORKERS", "0", "MODEL.BACKBONE.NAME", str(clip),
            "INPUT.SIZE", "(32,32)", "INPUT.TRANSFORMS", "('normalize',)", "TRAINER.MMADAPTER.ADAPTER_START", "3",
            "TRAINER.MMADAPTER.ADAPTER_END", "4", "OPTIM.MAX_EPOCH", "4", "OPTIM.LR", "0.05",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.TEST.BATCH_SIZE", "4"]


def test_torchrun_on_two_processes_matches_one_and_resumes(tmp_path, tiny_clip_checkpoint):
    from tools.make_fake_datasets import make_fake_datasets

    make_fake_datasets(tmp_path / "data", names=["eurosat"], images_per_class=9)  # 3 test images a class: 15
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = subprocess.run(train_command(tmp_path / "data", tiny_clip_checkpoint, tmp_path / "one", 1), env=env,
                            capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]

    two = tmp_path / "two"
    command = train_command(tmp_path / "data", tiny_clip_checkpoint, two, 2)
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 900
    while not (two / "resume.pth").is_file() and first.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGTERM)  # stopped after epoch 1, 2 or 3 of 4
    first.wait(timeout=300)
    assert not (two / "result.json").exists()
    again = subprocess.run(command, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]

    log = (two / "log.txt").read_text()
    assert "epochs done, continuing at epoch" in log and log.count("Finish training") == 1
    assert log.count("* total: 15") == 1  # rank 0 logs once; every test image counted once
    ours, reference = (json.loads((folder / "result.json").read_text()) for folder in (two, tmp_path / "one"))
    assert ours["num_images"] == reference["num_images"] == 15
    assert ours["metrics"]["accuracy"] == reference["metrics"]["accuracy"]
    weights = [torch.load(folder / "adapter_learner/model.pth.tar-4", weights_only=True)["state_dict"]
               for folder in (two, tmp_path / "one")]
    for key, value in weights[1].items():
        assert torch.allclose(weights[0][key], value, rtol=1e-4, atol=1e-6), key
    assert sorted(path.name for path in two.iterdir()) == sorted(path.name for path in (tmp_path / "one").iterdir())
