"""End-to-end engine behaviour on a tiny registered dataset and trainer (CPU, a few seconds)."""
import os.path as osp
import re
import sys

import pytest
import torch

from dassl.engine import build_trainer
from dassl.evaluation import PREDICTIONS_FILE, read_predictions
from dassl.utils import load_checkpoint, read_json, set_random_seed, setup_logger
from dassl_helpers import MODEL_NAME, DasslTinyTrainer, tiny_cfg, write_tiny_images

LOG_LINE = re.compile(
    r"^epoch \[\d+/3\] batch \[\d+/3\] time \d+\.\d{3} \(\d+\.\d{3}\) data \d+\.\d{3} \(\d+\.\d{3}\) "
    r"loss \d+\.\d{4} \(\d+\.\d{4}\) acc \d+\.\d{4} \(\d+\.\d{4}\) lr \d\.\d{4}e[+-]\d{2} eta \d+:\d{2}:\d{2}$"
)


class StopAfterFirstEpoch(Exception):
    pass


class InterruptedTrainer(DasslTinyTrainer):
    """Dies right after epoch 1's end-of-epoch work, like a killed job."""

    def after_epoch(self) -> None:
        super().after_epoch()
        if self.epoch == 0:
            raise StopAfterFirstEpoch


def run_with_log(trainer_cls, cfg, train: bool = True):
    """Seed, tee stdout to OUTPUT_DIR/log.txt as train.py does, build and train; always restore stdout."""
    console = sys.stdout
    set_random_seed(cfg.SEED)
    logger = setup_logger(cfg.OUTPUT_DIR)
    try:
        trainer = trainer_cls(cfg) if trainer_cls is not None else build_trainer(cfg)
        if train:
            trainer.train()
        return trainer
    finally:
        logger.close()
        sys.stdout = console


def parse_accuracy(log_path: str) -> float:
    """What CoOp/MMA's parse_test_res reads: the last '* accuracy:' after the 'Finish training' line."""
    found_end, value = False, None
    with open(log_path) as f:
        for line in f:
            if line.strip() == "Finish training":
                found_end = True
            match = re.search(r"\* accuracy: ([\.\deE+-]+)%", line)
            if found_end and match:
                value = float(match.group(1))
    assert value is not None, "Nothing found"
    return value


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("dassl_data"))
    write_tiny_images(root)
    return root


@pytest.fixture(scope="module")
def full_run(data_root, tmp_path_factory):
    """An uninterrupted 3-epoch run (constant warmup + cosine, dropout, random crops)."""
    out = str(tmp_path_factory.mktemp("full"))
    cfg = tiny_cfg(data_root, out)
    trainer = run_with_log(None, cfg)
    return out, cfg, trainer


def test_train_writes_checkpoints_log_and_result(full_run):
    out, cfg, _ = full_run
    model_dir = osp.join(out, MODEL_NAME)
    assert osp.isfile(osp.join(model_dir, "model.pth.tar-3"))
    with open(osp.join(model_dir, "checkpoint")) as f:
        assert f.read() == "model.pth.tar-3\n"
    assert not osp.exists(osp.join(out, "resume.pth")), "the resumable state is removed once training finished"

    ckpt = load_checkpoint(osp.join(model_dir, "model.pth.tar-3"))
    assert set(ckpt) == {"state_dict", "epoch", "optimizer", "scheduler", "val_result"}
    assert ckpt["epoch"] == 3 and ckpt["val_result"] is None
    assert isinstance(ckpt["scheduler"]["successor"], dict)
    torch.load(osp.join(model_dir, "model.pth.tar-3"), weights_only=True)

    log = open(osp.join(out, "log.txt")).read().splitlines()
    assert any(line.startswith("Using device: cpu (") for line in log)
    epoch_lines = [line for line in log if line.startswith("epoch [")]
    assert len(epoch_lines) == 3 and all(LOG_LINE.match(line) for line in epoch_lines), epoch_lines
    end = log.index("Finish training")
    assert log[end + 1 : end + 3] == ["Deploy the last-epoch model", "Evaluate on the *test* set"]
    assert log[end + 3] == "=> result"
    assert log[end + 4] == "* total: 9"
    assert re.fullmatch(r"\* correct: \d", log[end + 5])
    assert re.fullmatch(r"\* accuracy: \d+\.\d%", log[end + 6])
    assert re.fullmatch(r"\* error: \d+\.\d%", log[end + 7])
    assert re.fullmatch(r"\* macro_f1: \d+\.\d%", log[end + 8])
    assert re.fullmatch(r"Elapsed: \d+:\d{2}:\d{2}", log[end + 9])

    result = read_json(osp.join(out, "result.json"))
    correct = int(log[end + 5].split()[-1])
    assert result["metrics"]["accuracy"] == pytest.approx(100.0 * correct / 9, abs=1e-12)
    assert parse_accuracy(osp.join(out, "log.txt")) == round(result["metrics"]["accuracy"], 1)
    assert result["num_images"] == 9 and result["split"] == "test"
    assert (result["trainer"], result["dataset"], result["subsample"]) == ("DasslTinyTrainer", "DasslTinyDataset", "all")
    assert (result["shots"], result["seed"]) == (4, 1)
    assert result["config_files"] == {"dataset": "", "method": ""}
    targets, preds = read_predictions(osp.join(out, PREDICTIONS_FILE))
    assert len(targets) == 9 and int((targets == preds).sum()) == correct


def test_resume_after_epoch_1_gives_identical_weights(full_run, data_root, tmp_path):
    out_full, _, _ = full_run
    out = str(tmp_path / "resumed")
    cfg = tiny_cfg(data_root, out)
    with pytest.raises(StopAfterFirstEpoch):
        run_with_log(InterruptedTrainer, cfg)
    state = torch.load(osp.join(out, "resume.pth"), weights_only=True)
    assert state["epoch"] == 1 and set(state["rng"]) >= {"python", "numpy", "torch"}
    assert not osp.exists(osp.join(out, MODEL_NAME)), "CHECKPOINT_FREQ 0: no Dassl checkpoint before the last epoch"

    resumed_trainer = run_with_log(DasslTinyTrainer, cfg)
    assert resumed_trainer.batches_seen == 9, "trainer-owned state (extra_training_state) is resumed too"
    full = load_checkpoint(osp.join(out_full, MODEL_NAME, "model.pth.tar-3"))
    resumed = load_checkpoint(osp.join(out, MODEL_NAME, "model.pth.tar-3"))
    for key, value in full["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    for key, value in full["optimizer"]["state"].items():
        assert torch.equal(value["momentum_buffer"], resumed["optimizer"]["state"][key]["momentum_buffer"])
    assert full["scheduler"] == resumed["scheduler"]

    log = open(osp.join(out, "log.txt")).read()
    first, second = log.split("a new process appends to this log")
    assert "epoch [1/3]" in first and "Finish training" not in first
    assert "Resumed from" in second and "1 of 3 epochs done, continuing at epoch 2" in second
    assert "epoch [1/3]" not in second and "epoch [3/3]" in second
    assert parse_accuracy(osp.join(out, "log.txt")) == parse_accuracy(osp.join(out_full, "log.txt"))


def test_eval_only_reproduces_accuracy(full_run, data_root, tmp_path):
    out_full, _, _ = full_run
    cfg = tiny_cfg(data_root, str(tmp_path / "eval"))
    trainer = run_with_log(None, cfg, train=False)
    console = sys.stdout
    logger = setup_logger(cfg.OUTPUT_DIR)
    try:
        trainer.load_model(out_full, epoch=3)
        accuracy = trainer.test()
    finally:
        logger.close()
        sys.stdout = console
    expected = read_json(osp.join(out_full, "result.json"))["metrics"]["accuracy"]
    assert accuracy == expected
    assert read_json(osp.join(cfg.OUTPUT_DIR, "result.json"))["metrics"]["accuracy"] == expected
    log = open(osp.join(cfg.OUTPUT_DIR, "log.txt")).read()
    assert "(epoch=3, val_result=N/A)" in log and "Finish training" not in log


def test_unknown_trainer_names_the_closest(data_root, tmp_path):
    cfg = tiny_cfg(data_root, str(tmp_path), TRAINER__NAME="DasslTinyTrainr")
    with pytest.raises(ValueError, match=r"DasslTinyTrainr.*do you mean \[DasslTinyTrainer\]"):
        build_trainer(cfg)


def test_logger_appends_and_keeps_stderr_out(tmp_path, capsys):
    console = sys.stdout
    for run in ("first", "second"):
        logger = setup_logger(str(tmp_path))
        try:
            print(f"{run} run")
            assert sys.stdout.encoding == console.encoding
            sys.stderr.write("progress bar\n")
        finally:
            logger.close()
            sys.stdout = console
    text = (tmp_path / "log.txt").read_text()
    assert text.startswith("first run\n")
    assert text.index("a new process appends to this log") < text.index("second run")
    assert "progress bar" not in text
    assert "first run" in capsys.readouterr().out


def test_best_val_deploys_the_best_checkpoint(data_root, tmp_path):
    cfg = tiny_cfg(data_root, str(tmp_path), TEST__FINAL_MODEL="best_val", OPTIM__MAX_EPOCH=2)
    run_with_log(None, cfg)
    model_dir = tmp_path / MODEL_NAME
    best = load_checkpoint(str(model_dir / "model-best.pth.tar"))
    assert isinstance(best["val_result"], float) and best["epoch"] in (1, 2)
    assert (model_dir / "checkpoint").read_text() == "model.pth.tar-2\n"
    log = (tmp_path / "log.txt").read_text()
    assert "Evaluate on the *val* set" in log
    deploy = log.index("Deploy the model with the best val performance")
    assert log.index("Finish training") < deploy < log.index("val_result=", deploy) < log.rindex("* accuracy:")
    assert read_json(str(tmp_path / "result.json"))["split"] == "test"


class NothingRegisteredTrainer(DasslTinyTrainer):
    """Like ZeroshotCLIP: a fixed model, nothing registered, only tested."""

    def build_model(self) -> None:
        self.model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, self.num_classes))


def test_trainer_without_registered_models_tests(data_root, tmp_path, capsys):
    cfg = tiny_cfg(data_root, str(tmp_path))
    set_random_seed(cfg.SEED)
    trainer = NothingRegisteredTrainer(cfg)
    trainer.load_model("")
    accuracy = trainer.test()
    assert "load_model() is skipped" in capsys.readouterr().out
    assert read_json(str(tmp_path / "result.json"))["metrics"]["accuracy"] == accuracy


class StopAfterSecondEpochTrainer(DasslTinyTrainer):
    """Uses the engine's hooks: records every evaluation and asks to stop after epoch 2."""

    def before_epoch(self) -> None:
        self.epochs_started = getattr(self, "epochs_started", 0) + 1

    def after_evaluation(self, split, results) -> None:
        self.evaluations = getattr(self, "evaluations", []) + [(split, results["accuracy"], self.best_result)]

    def stop_early(self):
        return "two epochs are enough" if self.epoch == 1 else None


def test_hooks_stop_early_and_accessors(data_root, tmp_path):
    cfg = tiny_cfg(data_root, str(tmp_path), TEST__FINAL_MODEL="best_val", OPTIM__MAX_EPOCH=4)
    trainer = run_with_log(StopAfterSecondEpochTrainer, cfg)
    assert trainer.epochs_started == 2 and trainer.stopped_early
    splits = [split for split, _, _ in trainer.evaluations]
    assert splits == ["val", "val", "test"]
    first_val, second_val = trainer.evaluations[0], trainer.evaluations[1]
    assert first_val[2] == float("-inf"), "after_evaluation runs before the engine records the best result"
    assert trainer.best_epoch == (2 if second_val[1] > first_val[1] else 1)
    model_dir = tmp_path / MODEL_NAME
    assert (model_dir / "checkpoint").read_text() == "model.pth.tar-2\n", "the stopped epoch is saved as the last"
    assert not (tmp_path / "resume.pth").exists()
    log = (tmp_path / "log.txt").read_text()
    assert "Early stopping after epoch 2: two epochs are enough" in log
    assert log.index("Early stopping") < log.index("Finish training")

    assert trainer.get_model() is trainer.get_model(MODEL_NAME) is trainer.model
    assert trainer.get_optimizer(MODEL_NAME) is trainer.optim and trainer.get_scheduler() is trainer.sched
    with pytest.raises(AssertionError, match="not registered"):
        trainer.get_optimizer("nothing")
