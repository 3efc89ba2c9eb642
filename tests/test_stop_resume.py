"""SIGTERM / SIGINT stop a run after the current step with a resumable state; the same command then
ends with weights bit-identical to an uninterrupted run (CPU)."""
import multiprocessing
import os
import signal
import sys

import pytest
import torch

import train
from dassl.engine import TRAINER_REGISTRY
from dassl.engine.stop_request import STOPPED_EXIT_CODE
from dassl.utils import load_checkpoint
from dassl_helpers import MODEL_NAME, DasslTinyTrainer

STEPS_PER_EPOCH, EPOCHS = 3, 3


@TRAINER_REGISTRY.register(force=True)
class SignalledTrainer(DasslTinyTrainer):
    """Sends itself ``signal_to_send`` right after global step ``stop_at`` (1-based), like Slurm would;
    its loader workers get it ``workers_early`` steps before (a scheduler signals every process of
    the job, and the main process may then still be waiting for a batch)."""

    stop_at = None
    signal_to_send = signal.SIGTERM
    workers_early = 0

    def forward_backward(self, batch):
        summary = super().forward_backward(batch)
        step = self.epoch * self.num_batches + self.batch_idx + 1
        stop_at = type(self).stop_at
        if stop_at is not None and step == stop_at - type(self).workers_early:
            for worker in multiprocessing.active_children():
                os.kill(worker.pid, type(self).signal_to_send)
        if step == stop_at:
            os.kill(os.getpid(), type(self).signal_to_send)
        return summary


def run(root, out, workers=0, batch_size=4):
    argv = ["--root", str(root), "--seed", "3", "--trainer", "SignalledTrainer", "--output-dir", str(out),
            "DATASET.NAME", "DasslTinyDataset", "DATASET.NUM_SHOTS", "4", "USE_CUDA", "False",
            "INPUT.SIZE", "(8, 8)", "INPUT.TRANSFORMS", "('random_resized_crop', 'random_flip', 'normalize')",
            "DATALOADER.NUM_WORKERS", str(workers), "DATALOADER.TRAIN_X.BATCH_SIZE", str(batch_size), "OPTIM.NAME", "sgd",
            "OPTIM.LR", "0.1", "OPTIM.MAX_EPOCH", str(EPOCHS), "OPTIM.LR_SCHEDULER", "cosine",
            "OPTIM.WARMUP_EPOCH", "1", "OPTIM.WARMUP_TYPE", "constant", "OPTIM.WARMUP_CONS_LR", "0.01",
            "TRAIN.PRINT_FREQ", "100"]
    console = sys.stdout
    try:
        train.main(train.build_parser().parse_args(argv), command=["train.py", *argv])
    finally:
        sys.stdout = console


def final_state(out):
    return load_checkpoint(str(out / MODEL_NAME / f"model.pth.tar-{EPOCHS}"))


@pytest.fixture(scope="module")
def uninterrupted(tiny_images_root, tmp_path_factory):
    """The final state of an uninterrupted run, per number of loader workers (computed once each)."""
    states = {}

    def final_state_with(workers, batch_size):
        if (workers, batch_size) not in states:
            SignalledTrainer.stop_at = None
            out = tmp_path_factory.mktemp(f"uninterrupted{workers}")
            run(tiny_images_root, out, workers, batch_size)
            states[workers, batch_size] = final_state(out)
        return states[workers, batch_size]

    return final_state_with


def assert_same_final_state(out, reference):
    resumed = final_state(out)
    for key, value in reference["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    for key, value in reference["optimizer"]["state"].items():
        assert torch.equal(value["momentum_buffer"], resumed["optimizer"]["state"][key]["momentum_buffer"])
    assert reference["scheduler"] == resumed["scheduler"]


@pytest.mark.parametrize(
    "stops, signum, workers",
    [
        ((1,), signal.SIGTERM, 0),  # inside epoch 1
        ((3,), signal.SIGTERM, 0),  # at the end of epoch 1: the end-of-epoch state
        ((5,), signal.SIGINT, 0),  # inside epoch 2, Ctrl-C
        ((2, 7), signal.SIGTERM, 0),  # stopped twice, the second time inside epoch 3
        ((9,), signal.SIGTERM, 1),  # batches of 1: the loader worker is signalled 4 batches earlier
    ],
)
def test_stop_then_same_command_is_bit_identical(tiny_images_root, tmp_path, uninterrupted, capsys, stops, signum, workers):
    out = tmp_path / "run"
    batch_size = 1 if workers else 4
    SignalledTrainer.signal_to_send = signum
    SignalledTrainer.workers_early = 4 if workers else 0
    for stop_at in stops:
        SignalledTrainer.stop_at = stop_at
        with pytest.raises(SystemExit) as exited:
            run(tiny_images_root, out, workers, batch_size)
        assert exited.value.code == STOPPED_EXIT_CODE
        printed = capsys.readouterr()
        assert f"{signal.Signals(signum).name} received: finishing the current step" in printed.err
        assert f"Stopped by {signal.Signals(signum).name}" in printed.out
        assert "run the same command again" in printed.out and f"--output-dir {out}" in printed.out
        assert (out / "resume.pth").is_file() and not (out / MODEL_NAME / f"model.pth.tar-{EPOCHS}").exists()
        assert not (out / "run.lock").exists()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the handlers are restored"
    SignalledTrainer.stop_at = None
    run(tiny_images_root, out, workers, batch_size)
    assert not (out / "resume.pth").exists()
    assert_same_final_state(out, uninterrupted(workers, batch_size))
    log = (out / "log.txt").read_text()
    assert log.count("Resumed from") == len(stops)
