"""The baseline trainers built by the engine on fake data: zero-shot accuracy against an independent
computation, reference checkpoints loading into CoOp / CoCoOp, clear errors, CPU precision."""
import json
from pathlib import Path

import pytest
import torch

from baseline_helpers import engine_trainer
from clip import clip
from clip.model import build_model
from trainers.kit.backbone import warn_fp16_on_cpu


EUROSAT_TEMPLATE = "a centered satellite photo of {}."
ENSEMBLE = ["itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
            "a {} in a video game.", "art of the {}.", "a photo of the small {}.", EUROSAT_TEMPLATE]


@pytest.mark.parametrize("templates", ["dataset", "ensemble"])
def test_zero_shot_accuracy_equals_an_independent_argmax(templates, fake_data_root, tiny_clip_checkpoint,
                                                         tiny_clip_state_dict, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    trainer = engine_trainer("ZeroshotCLIP", "ZeroshotCLIP/vit_b16.yaml", fake_data_root, tiny_clip_checkpoint,
                             tmp_path, "TRAINER.ZSCLIP.PREC", "fp32", "TRAINER.ZSCLIP.TEMPLATES", templates)
    accuracy = trainer.test()

    model = build_model(tiny_clip_state_dict).float()
    names = [name.replace("_", " ") for name in trainer.dm.dataset.classnames]
    with torch.no_grad():
        per_template = []
        for template in ([EUROSAT_TEMPLATE] if templates == "dataset" else ENSEMBLE):
            features = model.encode_text(clip.tokenize([template.format(n) for n in names]))
            per_template.append(features / features.norm(dim=-1, keepdim=True))
        text = torch.stack(per_template).mean(0)
        text = text / text.norm(dim=-1, keepdim=True)
        correct = total = 0
        for batch in trainer.test_loader:
            image = model.encode_image(batch["img"])
            logits = model.logit_scale.exp() * (image / image.norm(dim=-1, keepdim=True)) @ text.t()
            assert torch.allclose(trainer.model_inference(batch["img"]), logits, rtol=1e-4, atol=1e-4)
            correct += (logits.argmax(1) == batch["label"]).sum().item()
            total += len(batch["label"])
    assert total == 20
    assert accuracy == pytest.approx(100.0 * correct / total)


def reference_checkpoint(directory: Path, name: str, state_dict: dict, epoch: int) -> None:
    """A checkpoint as CoOp's trainer writes it (Dassl's save_checkpoint layout)."""
    folder = directory / name
    folder.mkdir(parents=True)
    torch.save({"state_dict": state_dict, "epoch": epoch, "optimizer": None, "scheduler": None,
                "val_result": None}, folder / f"model.pth.tar-{epoch}")


def test_coop_and_cocoop_load_reference_checkpoints_of_other_classes(coop_golden, fake_data_root,
                                                                      tiny_clip_checkpoint, tmp_path, monkeypatch):
    """The golden prompt learners (trained on 7 other classes) load into 10-class EuroSAT models: the
    context and meta-net come from the checkpoint, the class-token buffers stay those of EuroSAT."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    cases = [("CoOp", "CoOp/vit_b16_ep50_ctxv1.yaml", "coop_init_end", ["TRAINER.COOP.PREC", "fp32"]),
             ("CoCoOp", "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml", "cocoop_init", ["TRAINER.COCOOP.PREC", "fp32"])]
    for trainer_name, config, case, opts in cases:
        golden = coop_golden["cases"][case]["prompt_learner_state_dict"]
        reference_checkpoint(tmp_path / trainer_name, "prompt_learner", golden, epoch=5)
        trainer = engine_trainer(trainer_name, config, fake_data_root, tiny_clip_checkpoint, tmp_path / "run", *opts)
        learner = trainer.model.prompt_learner
        buffers = {k: learner.state_dict()[k].clone() for k in ("token_prefix", "token_suffix")}
        trainer.load_model(str(tmp_path / trainer_name), epoch=5)
        state = learner.state_dict()
        for key, value in golden.items():
            if key in buffers:
                assert state[key].shape[0] == 10 and torch.equal(state[key], buffers[key])
            else:
                assert torch.equal(state[key], value), key
        assert trainer.test() >= 0.0


def test_a_checkpoint_that_does_not_fit_is_a_clear_error(coop_golden, fake_data_root, tiny_clip_checkpoint,
                                                         tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    reference_checkpoint(tmp_path / "ckpt", "prompt_learner",
                         coop_golden["cases"]["coop_generic_end"]["prompt_learner_state_dict"], epoch=3)
    trainer = engine_trainer("CoOp", "CoOp/vit_b16.yaml", fake_data_root, tiny_clip_checkpoint, tmp_path / "run",
                             "TRAINER.COOP.PREC", "fp32")
    with pytest.raises(ValueError, match=r"N_CTX 16.*shape mismatches: ctx \(checkpoint \(4, 64\), "
                                         r"model \(16, 64\)\)"):
        trainer.load_model(str(tmp_path / "ckpt"), epoch=3)
    with pytest.raises(FileNotFoundError, match=r"holds model\.pth\.tar-3\. Pass --load-epoch N"):
        trainer.load_model(str(tmp_path / "ckpt"), epoch=7)


def test_fp16_on_cpu_falls_back_to_fp32_with_a_warning(fake_data_root, tiny_clip_checkpoint, tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    warn_fp16_on_cpu.cache_clear()
    trainer = engine_trainer("CoCoOp", "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml", fake_data_root,
                             tiny_clip_checkpoint, tmp_path)
    assert "Warning: PREC fp16 is not supported on CPU; running in fp32 instead" in capsys.readouterr().out
    assert trainer.precision == "fp32"
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}


@pytest.mark.parametrize("trainer_name,config,learner", [
    ("CoOp", "CoOp/vit_b16_ep50_ctxv1.yaml", "prompt_learner"),
    ("CoCoOp", "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml", "prompt_learner"),
    ("CLIP_Adapter", "CLIP_Adapter/vit_b16.yaml", "clip_adapter"),
    ("LinearProbe", "LinearProbe/vit_b16.yaml", "linear_probe"),
])
def test_a_trained_model_reloads_for_evaluation(trainer_name, config, learner, fake_data_root, tiny_clip_checkpoint,
                                                tmp_path, monkeypatch):
    """One epoch on 2 shots of the fake EuroSAT, then --eval-only's path on a fresh trainer: same
    weights, same test accuracy."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    opts = ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "8"]
    trained = engine_trainer(trainer_name, config, fake_data_root, tiny_clip_checkpoint, tmp_path / "run", *opts)
    before = {k: v.clone() for k, v in trained.get_model(learner).state_dict().items()}
    trained.train()
    after = trained.get_model(learner).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "training changed nothing"
    accuracy = json.loads((tmp_path / "run" / "result.json").read_text())["metrics"]["accuracy"]

    fresh = engine_trainer(trainer_name, config, fake_data_root, tiny_clip_checkpoint, tmp_path / "eval", *opts)
    fresh.load_model(str(tmp_path / "run"), epoch=1)
    for key, value in fresh.get_model(learner).state_dict().items():
        assert torch.equal(value, after[key]), key
    assert fresh.test() == pytest.approx(accuracy)


def test_bad_settings_fail_before_any_work_with_the_key_named(fake_data_root, tiny_clip_checkpoint, tmp_path,
                                                               monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    with pytest.raises(ValueError, match=r"TRAINER.COOP.CLASS_TOKEN_POSITION is 'start'; it must be one of end"):
        engine_trainer("CoOp", "CoOp/vit_b16.yaml", fake_data_root, tiny_clip_checkpoint, tmp_path,
                       "TRAINER.COOP.CLASS_TOKEN_POSITION", "start")
    with pytest.raises(ValueError, match=r"TRAINER.ZSCLIP.TEMPLATES is 'all'; it must be one of dataset, ensemble"):
        engine_trainer("ZeroshotCLIP", "ZeroshotCLIP/vit_b16.yaml", fake_data_root, tiny_clip_checkpoint, tmp_path,
                       "TRAINER.ZSCLIP.TEMPLATES", "all")
    with pytest.raises(ValueError, match=r"TRAINER.CLIP_ADAPTER.PREC is 'bf16'; it must be one of fp16, fp32, amp"):
        engine_trainer("CLIP_Adapter", "CLIP_Adapter/vit_b16.yaml", fake_data_root, tiny_clip_checkpoint, tmp_path,
                       "TRAINER.CLIP_ADAPTER.PREC", "bf16")
