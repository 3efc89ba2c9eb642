"""Failures name the file or setting and the fix, and leave earlier results byte-identical."""
import shutil
import sys
import warnings

import pytest
import torch

import train
from dassl.engine import TRAINER_REGISTRY, build_trainer
from dassl.engine.trainer import NonFiniteLossError
from dassl.utils import save_torch_atomically, set_random_seed
from dassl.utils.safe_load import DamagedFileError
from dassl.utils.torchtools import DiskFullError
from dassl_helpers import MODEL_NAME, DasslTinyTrainer, folder_digest, run_train
from datasets.splits import SplitFileError, read_split
from mma_helpers import mma_trainer_cfg, write_colour_images
from trainers.kit.training import make_grad_scaler


@TRAINER_REGISTRY.register(force=True)
class DivergingTrainer(DasslTinyTrainer):
    """Its loss becomes NaN at epoch 2, batch 1."""

    def forward_backward(self, batch):
        if self.epoch == 1 and self.batch_idx == 0:
            image, label, _ = self.parse_batch_train(batch)
            loss = self.model(image).sum() * float("nan")
            self.model_backward_and_update(loss)
        return super().forward_backward(batch)


def test_nan_loss_names_epoch_step_lr_and_precision(tiny_images_root, tmp_path):
    argv = ["--root", str(tiny_images_root), "--seed", "1", "--trainer", "DivergingTrainer", "--output-dir", str(tmp_path),
            "DATASET.NAME", "DasslTinyDataset", "DATASET.NUM_SHOTS", "2", "USE_CUDA", "False", "INPUT.SIZE", "(8, 8)",
            "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "3", "OPTIM.NAME", "sgd",
            "OPTIM.LR", "0.1", "OPTIM.MAX_EPOCH", "2", "OPTIM.LR_SCHEDULER", "cosine"]
    console = sys.stdout
    try:
        with pytest.raises(NonFiniteLossError) as info:
            train.main(train.build_parser().parse_args(argv), command=["train.py", *argv])
    finally:
        sys.stdout = console
    message = str(info.value)
    assert "loss is nan at epoch 2/2, batch 1/2 (learning rate 5.0000e-02, precision fp32)" in message
    assert "Lower OPTIM.LR" in message and "fp32" in message
    assert (tmp_path / "resume.pth").is_file(), "the end-of-epoch-1 state is kept"


def test_nan_loss_on_the_amp_path_names_amp(tmp_path, tiny_clip_checkpoint, repo_root):
    """MMA's amp step (autocast + GradScaler; both switch themselves off without CUDA) stops on a NaN
    loss like the plain step, instead of letting the scaler skip the step and train on."""
    write_colour_images(tmp_path / "data", "train", per_class=2, seed=0)
    write_colour_images(tmp_path / "data", "test", per_class=1, seed=1)
    out = tmp_path / "run"
    cfg = mma_trainer_cfg(tmp_path / "data", out, tiny_clip_checkpoint, repo_root,
                          opts=["OPTIM.MAX_EPOCH", "2", "TRAIN.CHECKPOINT_FREQ", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "3"])
    cfg.freeze()
    set_random_seed(cfg.SEED)
    trainer = build_trainer(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no CUDA: the scaler says it disables itself
        trainer.scaler = make_grad_scaler("amp")
    trainer.precision = "amp"
    train_step, saved = trainer.forward_backward, {}

    def diverging_step(batch):
        if (trainer.epoch, trainer.batch_idx) == (1, 0):
            saved.update(folder_digest(out))
            with torch.no_grad():
                next(trainer.model.adapter_learner.parameters()).fill_(float("nan"))
        return train_step(batch)

    trainer.forward_backward = diverging_step
    with pytest.raises(NonFiniteLossError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # autocast("cuda") without CUDA says it is off
        trainer.train()
    assert "loss is nan at epoch 2/2, batch 1/2 (learning rate 2.5000e-02, precision amp)" in str(info.value)
    assert {"resume.pth", "adapter_learner/model.pth.tar-1"} <= set(saved)
    assert {name: digest for name, digest in folder_digest(out).items() if name in saved} == saved


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pth.tar-1"
    save_torch_atomically({"w": torch.ones(3)}, str(path))
    before = folder_digest(tmp_path)

    def write_to_a_full_device(obj, target):  # what torch does when the disk fills up
        torch.serialization.save(obj, "/dev/full")

    monkeypatch.setattr(torch, "save", write_to_a_full_device)
    monkeypatch.setattr("shutil.disk_usage", lambda folder: type("Usage", (), {"free": 100})())
    with pytest.raises(DiskFullError) as info:
        save_torch_atomically({"w": torch.zeros(1000)}, str(path))
    message = str(info.value)
    assert f'No space left to write "{path}": it needs about 4,000 bytes and {tmp_path} has 100 bytes free' in message
    assert "The previous version of that file is unchanged" in message
    assert folder_digest(tmp_path) == before


@pytest.mark.parametrize("content", ['{"train": [["a.jpg", 0, "cat"]', "", "<html>"])
def test_split_json_that_is_not_json_is_explained(tmp_path, content):
    split = tmp_path / "split_zhou_Tiny.json"
    split.write_text(content)
    with pytest.raises(SplitFileError, match=r"Tiny: the split file .*split_zhou_Tiny\.json is not valid JSON.*Delete it"):
        read_split("Tiny", str(split), str(tmp_path), str(tmp_path))


def test_truncated_resume_state_says_it_can_be_deleted(tiny_images_root, tmp_path):
    out = tmp_path / "run"
    run_train(tiny_images_root, out, **{"OPTIM.MAX_EPOCH": 1})
    state = out / "resume.pth"
    torch.save({"epoch": 0}, state)
    state.write_bytes(state.read_bytes()[:100])
    before = folder_digest(out)
    with pytest.raises(DamagedFileError, match=r"resume\.pth.*truncated.*delete .*resume\.pth and run the same command"):
        run_train(tiny_images_root, out, **{"OPTIM.MAX_EPOCH": 1})
    after = folder_digest(out)
    assert {k: v for k, v in after.items() if k != "log.txt"} == {k: v for k, v in before.items() if k != "log.txt"}
    assert (out / MODEL_NAME / "model.pth.tar-1").is_file()

@pytest.mark.parametrize("fake", [True, False])
def test_an_incomplete_folder_gets_no_split(fake_data_root, tmp_path, fake):
    """A half-extracted EuroSAT without its split file: refused, nothing saved under the official name."""
    from datasets.errors import IncompleteDatasetError
    from datasets_helpers import load, real_copy

    folder = real_copy(fake_data_root, tmp_path, "EuroSAT")
    (folder / "split_zhou_EuroSAT.json").unlink()
    if fake:  # a fake copy keeps every class: remove one, as an interrupted extraction would
        shutil.rmtree(folder / "2750" / "River")
    else:  # treated as the real dataset: its image count is checked against the published 27,000
        (folder / ".fake_dataset").unlink()
    with pytest.raises(IncompleteDatasetError) as info:
        load(tmp_path, "EuroSAT")
    message = str(info.value)
    expected = "classes: 9 found, 10 expected" if fake else "images: 60 found, 27,000 expected"
    assert f"EuroSAT: {folder} is incomplete ({expected})" in message and "tools/check_data.py" in message
    assert not (folder / "split_zhou_EuroSAT.json").exists()
