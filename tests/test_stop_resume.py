"""SIGTERM / SIGINT stop a run after the current step with a resumable state; the same command then
ends with weights bit-identical to an uninterrupted run (CPU)."""
import functools
import json
import multiprocessing
import os
import signal
import sys
from types import SimpleNamespace

import pytest
import torch

import train
from dassl.engine import TRAINER_REGISTRY
from dassl.engine.stop_request import STOPPED_EXIT_CODE, StopRequest
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


# The attention adapter and the linear probe on the fake EuroSAT with the tiny CLIP. The stop is noted as
# SIGTERM's handler notes it, from inside a step: a training batch, a feature batch, a C-search fit.

@pytest.fixture
def step_counter(monkeypatch):
    """``step_counter(owner, name)`` counts the calls of ``owner.name``; the call that brings ``calls`` to
    the counter's ``stop_at`` requests a stop of the running trainer."""
    installed = []
    install = StopRequest.install

    def noted_install(request):
        installed.append(request)
        return install(request)

    monkeypatch.setattr(StopRequest, "install", noted_install)

    def count(owner, name):
        original, counter = getattr(owner, name), SimpleNamespace(calls=0, stop_at=None)

        def counted(*args, **kwargs):
            counter.calls += 1
            if counter.calls == counter.stop_at:
                installed[-1].requested = "SIGTERM"
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)
        return counter

    return count


def run_clip_method(data_root, checkpoint, trainer, config, out, *opts):
    argv = ["--root", str(data_root), "--seed", "1", "--trainer", trainer, "--output-dir", str(out),
            "--dataset-config-file", "configs/datasets/eurosat.yaml", "--config-file", f"configs/trainers/{config}",
            "MODEL.BACKBONE.NAME", str(checkpoint), "INPUT.SIZE", "(32, 32)", "USE_CUDA", "False",
            "DATALOADER.NUM_WORKERS", "0", "TRAIN.PRINT_FREQ", "100", *opts]
    console = sys.stdout
    try:
        train.main(train.build_parser().parse_args(argv), command=["train.py", *argv])
    finally:
        sys.stdout = console


def stop_then_resume(run_method, out, capsys):
    """Run until the requested stop (exit 75, resume.pth written), then the same command to the end;
    returns what each printed."""
    with pytest.raises(SystemExit) as exited:
        run_method(out)
    assert exited.value.code == STOPPED_EXIT_CODE
    stopped = capsys.readouterr().out
    assert (out / "resume.pth").is_file() and not (out / "result.json").exists()
    run_method(out)
    assert not (out / "resume.pth").exists()
    return stopped, capsys.readouterr().out


def assert_same_checkpoints(reference, resumed, files):
    for name in files:
        ours, theirs = load_checkpoint(str(resumed / name)), load_checkpoint(str(reference / name))
        for key, value in theirs["state_dict"].items():
            assert torch.equal(value, ours["state_dict"][key]), (name, key)
        for key, value in (theirs["optimizer"] or {"state": {}})["state"].items():
            assert all(torch.equal(v, ours["optimizer"]["state"][key][k]) for k, v in value.items()), (name, key)
    accuracy = [json.loads((folder / "result.json").read_text())["metrics"]["accuracy"] for folder in (reference, resumed)]
    assert accuracy[0] == accuracy[1]


ATTNMMA_OPTS = ("DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.ATTNMMA.PREC", "fp32",
                "TRAINER.ATTNMMA.PROMPT", "learned", "OPTIM.MAX_EPOCH", "2", "DATALOADER.TRAIN_X.BATCH_SIZE", "2",
                "DATALOADER.TEST.BATCH_SIZE", "10")


def test_attention_adapter_stops_inside_an_epoch_and_resumes_bit_identically(
        fake_data_root, tiny_clip_checkpoint, tmp_path, capsys, step_counter):
    """On stored embeddings (shuffled each epoch), with a learned prompt context: two learned modules."""
    from trainers.attnmma import AttentionMultiModalAdapter

    run_method = functools.partial(run_clip_method, fake_data_root, tiny_clip_checkpoint, "AttentionMultiModalAdapter",
                                   "AttentionMultiModalAdapter/vit_b16_reference.yaml")
    batches = step_counter(AttentionMultiModalAdapter, "forward_backward")
    run_method(tmp_path / "uninterrupted", *ATTNMMA_OPTS)
    assert batches.calls == 10
    capsys.readouterr()
    batches.stop_at = batches.calls + 7  # 5 batches an epoch: epoch 2, batch 2
    stopped, resumed = stop_then_resume(lambda out: run_method(out, *ATTNMMA_OPTS), tmp_path / "run", capsys)
    assert "Training on stored embeddings" in stopped
    assert "Stopped by SIGTERM in epoch 2 after batch 2 of 5" in stopped
    assert "continuing at epoch 2, batch 3" in resumed
    assert batches.calls == 20
    files = [f"{learner}/{name}" for learner in ("adapter", "prompt_learner") for name in ("model.pth.tar-2", "model-best.pth.tar")]
    assert_same_checkpoints(tmp_path / "uninterrupted", tmp_path / "run", files)


@pytest.fixture(scope="module")
def linear_probe_reference(fake_data_root, tiny_clip_checkpoint, tmp_path_factory):
    """The uninterrupted linear probe: its output folder and how many fits and encoder calls it made."""
    from clip.model import CLIP
    from trainers.linear_probe import probe_search

    out = tmp_path_factory.mktemp("linear_probe") / "uninterrupted"
    counts = {"fits": 0, "encodings": 0}

    def counted(name, original):
        def call(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)
        return call

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(probe_search, "fit_probe", counted("fits", probe_search.fit_probe))
        patch.setattr(CLIP, "encode_image", counted("encodings", CLIP.encode_image))
        run_clip_method(fake_data_root, tiny_clip_checkpoint, "LinearProbe", "LinearProbe/vit_b16.yaml", out,
                        *LINEAR_PROBE_OPTS)
    return out, counts


LINEAR_PROBE_OPTS = ("DATASET.NUM_SHOTS", "4", "DATALOADER.TEST.BATCH_SIZE", "7")  # 5 train, 2 val feature batches


@pytest.mark.parametrize("step, k, where", [
    ("encodings", 2, "after train feature batch 2 of 5"),
    ("fits", 5, "after C-search fit 5 of 23"),  # in the coarse grid
    ("fits", 22, "after C-search fit 22 of 23"),  # between the two ends of the last bisection
])
def test_linear_probe_stops_after_a_feature_batch_or_fit_and_resumes_without_redoing_it(
        fake_data_root, tiny_clip_checkpoint, tmp_path, capsys, step_counter, linear_probe_reference, step, k, where):
    from clip.model import CLIP
    from trainers.linear_probe import probe_search

    reference, uninterrupted = linear_probe_reference
    assert uninterrupted["fits"] == 23
    work = {"fits": step_counter(probe_search, "fit_probe"), "encodings": step_counter(CLIP, "encode_image")}
    work[step].stop_at = k
    run_method = functools.partial(run_clip_method, fake_data_root, tiny_clip_checkpoint, "LinearProbe",
                                   "LinearProbe/vit_b16.yaml")
    stopped, resumed = stop_then_resume(lambda out: run_method(out, *LINEAR_PROBE_OPTS), tmp_path / "run", capsys)
    assert f"Stopped by SIGTERM while fitting the probe, {where}" in stopped
    assert {name: counter.calls for name, counter in work.items()} == uninterrupted, \
        "a feature batch or fit finished before the stop was done again"
    assert_same_checkpoints(reference, tmp_path / "run", ["linear_probe/model.pth.tar-1"])
