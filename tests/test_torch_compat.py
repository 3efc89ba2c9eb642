"""The helpers that bridge torch versions inside requirements.txt's range (torch >= 2.1), run on the
installed torch with the newer API hidden, and MMA's amp step structure on a CPU."""
import warnings

import pytest
import torch

from dassl.engine import build_trainer
from dassl.utils import set_random_seed
from mma_helpers import mma_trainer_cfg, write_colour_images
import trainers.kit.text_prefix as mma_text
from trainers.kit.text_prefix import autocast_state
from trainers.kit.training import make_grad_scaler


def states():
    outside = autocast_state("cpu")
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        inside = autocast_state("cpu")
    return outside, inside


def test_autocast_state_without_the_device_generic_queries(monkeypatch):
    expected = states()
    assert expected == ((False, None), (True, torch.bfloat16))
    monkeypatch.setattr(mma_text, "DEVICE_GENERIC_AUTOCAST_QUERIES", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the per-device queries are deprecated in new torch
        assert states() == expected
        assert autocast_state("cuda") == (False, None)


def test_grad_scaler_before_torch_amp_had_one(monkeypatch):
    assert make_grad_scaler("fp32") is None and make_grad_scaler("fp16") is None
    monkeypatch.delattr(torch.amp, "GradScaler")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no CUDA here: the scaler disables itself, saying so
        assert isinstance(make_grad_scaler("amp"), torch.cuda.amp.GradScaler)


def test_the_amp_step_updates_the_adapters_like_the_plain_step_when_cuda_is_absent(
        tmp_path, tiny_clip_checkpoint, repo_root):
    """Without CUDA, autocast('cuda') and the CUDA GradScaler switch themselves off, so MMA's amp step
    (zero, scaled backward, scaler step, update) must give the plain step's weights exactly."""
    write_colour_images(tmp_path / "data", "train", per_class=2, seed=0)
    write_colour_images(tmp_path / "data", "test", per_class=1, seed=1)

    def adapters_after_one_step(amp):
        cfg = mma_trainer_cfg(tmp_path / "data", tmp_path / "run", tiny_clip_checkpoint, repo_root)
        cfg.freeze()
        set_random_seed(cfg.SEED)
        trainer = build_trainer(cfg)
        if amp:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trainer.scaler = make_grad_scaler("amp")
        trainer.set_model_mode("train")
        trainer.batch_idx, trainer.num_batches = 0, 2
        batch = next(iter(trainer.train_loader_x))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = trainer.forward_backward(batch)
        return summary, trainer.model.adapter_learner.state_dict()

    (plain_summary, plain), (amp_summary, amp) = adapters_after_one_step(False), adapters_after_one_step(True)
    assert amp_summary == plain_summary
    assert all(torch.equal(amp[k], v) for k, v in plain.items())


@pytest.mark.parametrize("precision", ["fp32", "amp"])
def test_the_scaler_follows_the_precision(precision):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaler = make_grad_scaler(precision)
    assert (scaler is None) == (precision == "fp32")
