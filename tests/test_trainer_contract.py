"""The contract every registered method keeps; a new trainer joins it by being registered.

Built the way train.py builds it, with the method's own config defaults, on the fake EuroSAT (a real
dataset layout, so per-dataset templates and class names exist) and the tiny CLIP on CPU: train one
step (one epoch of one batch), save, load into a fresh trainer, and get the same evaluation logits.
The checkpoint holds the learner's parameters (and its own buffers), never a frozen CLIP weight.
"""
from pathlib import Path

import pytest
import torch

from dassl.engine import TRAINER_REGISTRY, build_trainer
from dassl.utils import load_checkpoint
from train import build_parser, setup_cfg

METHOD_TRAINERS = sorted(
    name for name in TRAINER_REGISTRY.registered_names()
    if TRAINER_REGISTRY.get(name).__module__.split(".")[0] == "trainers"
)
SHOTS, CLASSES = 2, 10  # the fake EuroSAT: every training image fits in one batch
# Settings a method's defaults need to build on the tiny CLIP (4 blocks per tower, width 64).
TINY_CLIP_OPTS = {
    "MultiModalAdapter": ["TRAINER.MMADAPTER.ADAPTER_START", "2", "TRAINER.MMADAPTER.ADAPTER_END", "4"],
    "MultiModalAdapterPP": ["TRAINER.MMADAPTERPP.ADAPTER_START", "2", "TRAINER.MMADAPTERPP.ADAPTER_END", "4",
                            "TRAINER.MMADAPTERPP.INPUT_PROMPTS", "hc"],  # no description files needed
    # The deep-prompt defaults prompt 9 blocks; the tiny CLIP has 4. fp32 as the CPU runs anyway.
    "MaPLe": ["TRAINER.MAPLE.PREC", "fp32", "TRAINER.MAPLE.PROMPT_DEPTH", "3"],
    "PromptSRC": ["TRAINER.PROMPTSRC.PREC", "fp32", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "3",
                  "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "3"],
}


def build(trainer_name: str, root: Path, checkpoint: Path, output: Path):
    args = build_parser().parse_args([
        "--root", str(root), "--seed", "1", "--trainer", trainer_name, "--output-dir", str(output),
        "--dataset-config-file", "configs/datasets/eurosat.yaml",
        "MODEL.BACKBONE.NAME", str(checkpoint), "INPUT.SIZE", "(32, 32)", "USE_CUDA", "False",
        "DATASET.NUM_SHOTS", str(SHOTS), "DATALOADER.TRAIN_X.BATCH_SIZE", str(SHOTS * CLASSES),
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "10", "OPTIM.MAX_EPOCH", "1",
        "OPTIM.LR", "0.01", "TEST.NO_TEST", "True", *TINY_CLIP_OPTS.get(trainer_name, []),
    ])
    return build_trainer(setup_cfg(args))


def eval_logits(trainer) -> torch.Tensor:
    trainer.set_model_mode("eval")
    batch = next(iter(trainer.test_loader))
    images, _ = trainer.parse_batch_test(batch)
    with torch.no_grad():
        return trainer.model_inference(images)


def test_every_method_trainer_is_covered():
    assert {"CoOp", "KgCoOp", "MaPLe", "MultiModalAdapter", "PromptSRC", "ZeroshotCLIP", "LinearProbe"} <= set(
        METHOD_TRAINERS)


@pytest.mark.parametrize("trainer_name", METHOD_TRAINERS)
def test_train_save_load_gives_the_same_logits(trainer_name, fake_data_root, tiny_clip_checkpoint, tmp_path,
                                               monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    trained = build(trainer_name, fake_data_root, tiny_clip_checkpoint, tmp_path / "run")
    names = trained.get_model_names()
    before = {name: {k: v.clone() for k, v in trained.get_model(name).state_dict().items()} for name in names}
    trained.train()
    if names:
        assert len(trained.train_loader_x) == 1, "one training step"
        assert any(
            not torch.equal(before[name][k], v) for name in names for k, v in trained.get_model(name).state_dict().items()
        ), "the training step changed nothing"
    logits = eval_logits(trained)

    for name in names:
        module = trained.get_model(name)
        saved = load_checkpoint(str(tmp_path / "run" / name / "model.pth.tar-1"))["state_dict"]
        learned = {k for k, p in module.named_parameters() if p.requires_grad}
        own_buffers = {k for k, _ in module.named_buffers()}
        assert learned and learned <= set(saved), f"{name}: every learned tensor is saved"
        assert set(saved) - learned <= own_buffers, f"{name}: the checkpoint holds frozen parameters"
        frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
        assert frozen == 0, f"{name}: the registered learner carries {frozen} frozen parameters"

    fresh = build(trainer_name, fake_data_root, tiny_clip_checkpoint, tmp_path / "eval")
    fresh.load_model(str(tmp_path / "run"), epoch=1)
    assert torch.equal(eval_logits(fresh), logits)
