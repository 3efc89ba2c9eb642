"""Optimizer and LR schedules: per-epoch values, current-torch warmup, safe checkpoint round trips."""
import math
import warnings

import pytest
import torch

from dassl.optim import ConstantWarmupScheduler
from dassl.utils import load_checkpoint
from dassl_helpers import COOP, MMA, build, epoch_lrs


def test_mma_optimizer_and_cosine_schedule():
    _, optimizer, scheduler = build(MMA)
    assert isinstance(optimizer, torch.optim.SGD)
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["weight_decay"], group["dampening"], group["nesterov"]) == (0.9, 5e-4, 0, False)
    lrs = epoch_lrs(optimizer, scheduler, 5)
    assert lrs == pytest.approx([0.0015 * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(5)], rel=1e-12)
    assert lrs == pytest.approx([1.5e-3, 1.357e-3, 9.82e-4, 5.18e-4, 1.43e-4], rel=2e-3)  # the rounded values, computed by hand


def test_coop_constant_warmup_then_shifted_cosine():
    _, optimizer, scheduler = build(COOP)
    assert isinstance(scheduler, ConstantWarmupScheduler)
    expected = [1e-5] + [0.002 * (1 + math.cos(math.pi * (k - 1) / 10)) / 2 for k in range(1, 10)]
    assert epoch_lrs(optimizer, scheduler, 10) == pytest.approx(expected, rel=1e-12)


def test_linear_warmup_and_bad_names():
    _, optimizer, scheduler = build(dict(COOP, WARMUP_EPOCH=2, WARMUP_TYPE="linear", WARMUP_MIN_LR=1e-4))
    assert epoch_lrs(optimizer, scheduler, 3) == pytest.approx([1e-4, 0.001, 0.002], rel=1e-12)
    with pytest.raises(ValueError, match="OPTIM.WARMUP_TYPE"):
        build(dict(COOP, WARMUP_TYPE="cubic"))
    with pytest.raises(ValueError, match="OPTIM.NAME must be one of"):
        build(dict(MMA, NAME="lamb"))
    with pytest.raises(ValueError, match="OPTIM.LR_SCHEDULER must be one of"):
        build(dict(MMA, LR_SCHEDULER="poly"))


def test_warmup_checkpoint_round_trip_drives_the_live_optimizer(tmp_path):
    model, optimizer, scheduler = build(COOP)
    reference = epoch_lrs(*build(COOP)[1:], 10)
    epoch_lrs(optimizer, scheduler, 3)
    path = str(tmp_path / "ckpt.pth")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, path)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = load_checkpoint(path)
    _, live_optimizer, live_scheduler = build(COOP)
    live_optimizer.load_state_dict(state["optimizer"])
    live_scheduler.load_state_dict(state["scheduler"])
    assert live_scheduler.successor.optimizer is live_optimizer
    assert epoch_lrs(live_optimizer, live_scheduler, 7) == pytest.approx(reference[3:], rel=1e-12)


def test_reference_checkpoint_with_pickled_successor_loads_safely(tmp_path):
    _, optimizer, scheduler = build(COOP)
    reference = epoch_lrs(*build(COOP)[1:], 10)
    epoch_lrs(optimizer, scheduler, 2)
    old_style = {k: v for k, v in scheduler.__dict__.items() if k != "optimizer"}
    path = str(tmp_path / "model.pth.tar-2")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": old_style}, path)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = load_checkpoint(path)
    _, live_optimizer, live_scheduler = build(COOP)
    live_optimizer.load_state_dict(state["optimizer"])
    live_scheduler.load_state_dict(state["scheduler"])
    assert epoch_lrs(live_optimizer, live_scheduler, 8) == pytest.approx(reference[2:], rel=1e-12)
