"""PromptSRC against the reference's own numbers (tests/golden/promptsrc_tiny.pt) and its ViT-B/16 keys."""
from pathlib import Path

import pytest
import torch

from baseline_helpers import engine_trainer, make_cfg, relative_error
from deep_prompt_helpers import key_rows, meta_vit_b16_fp16, read_key_list
from trainers.kit.deep_prompts import PromptConfigError
from trainers.promptsrc import CHECKPOINT_NAME, LOSS_KEYS, CustomCLIP, gaussian_epoch_weights

# The case that keeps the reference's fp16 rounding of inserted prompts is a documented difference.
EXACT_CASES = ["promptsrc_b2n_depth3", "promptsrc_asym_random"]
TRAINER_KEYS = ("N_CTX_VISION", "N_CTX_TEXT", "CTX_INIT", "PREC", "PROMPT_DEPTH_VISION", "PROMPT_DEPTH_TEXT",
                "TEXT_LOSS_WEIGHT", "IMAGE_LOSS_WEIGHT", "GPA_MEAN", "GPA_STD")


@pytest.fixture(scope="session")
def promptsrc_golden(golden_dir):
    return torch.load(golden_dir / "promptsrc_tiny.pt", map_location="cpu", weights_only=False)


def promptsrc_cfg(hparams):
    cfg = make_cfg("PROMPTSRC", {k: v for k, v in hparams.items() if k in TRAINER_KEYS})
    cfg.OPTIM.MAX_EPOCH = hparams["MAX_EPOCH"]
    return cfg


def golden_model(case, golden, clip_model, state="trainable_state_dict"):
    model = CustomCLIP(promptsrc_cfg(case["hparams"]), golden["classnames"], clip_model)
    model.learned_parts.load_state_dict({**case[state], **{f"prompt_learner.{k}": v for k, v in
                                                           case["prompt_learner_state_dict"].items()
                                                           if k != "ctx"}})
    return model


@pytest.mark.parametrize("name", EXACT_CASES)
def test_promptsrc_reproduces_the_reference(name, promptsrc_golden, clip_fp32):
    case = promptsrc_golden["cases"][name]
    model = golden_model(case, promptsrc_golden, clip_fp32)
    images, labels = promptsrc_golden["images"], promptsrc_golden["labels"]
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert sorted(trainable) == sorted(case["trainable_state_dict"])
    assert sum(p.numel() for p in trainable.values()) == case["trainable_params"]
    assert relative_error(model.fixed_embeddings, case["fixed_embeddings"]) < 1e-4
    assert torch.equal(model.tokenized_prompts, case["tokenized_prompts"])
    for key in ("token_prefix", "token_suffix"):
        assert torch.equal(model.prompt_learner.state_dict()[key], case["prompt_learner_state_dict"][key])

    model.eval()
    with torch.no_grad():
        assert relative_error(model(images), case["eval_logits"]) < 1e-4

    model.train()
    terms = model(images, labels)
    assert set(terms) == {*LOSS_KEYS, "logits"}
    assert relative_error(terms["logits"], case["train_logits"]) < 1e-4
    for key, value in [*case["loss_components"].items(), ("loss_total", case["loss_total"])]:
        assert relative_error(terms[key], value) < 1e-4, key
    grads_ce = torch.autograd.grad(terms["loss_ce"], list(trainable.values()), retain_graph=True)
    grads_total = torch.autograd.grad(terms["loss_total"], list(trainable.values()))
    for key, ce, total in zip(trainable, grads_ce, grads_total):
        assert relative_error(ce, case["grads"][key]) < 1e-4, key
        assert relative_error(total, case["grads_total"][key]) < 1e-4, key

    features = case["features"]
    with torch.no_grad():
        text = model.text_features()
        image = model.image_features(images)
        zero_shot = model.zero_shot_image_features(images)
    assert relative_error(text / text.norm(dim=-1, keepdim=True), features["text_features"]) < 1e-4
    assert relative_error(image / image.norm(dim=-1, keepdim=True), features["image_features"]) < 1e-4
    assert relative_error(zero_shot / zero_shot.norm(dim=-1, keepdim=True), features["zero_shot_image_features"]) < 1e-4


def test_promptsrc_gpa_weights_equal_the_reference_tables(promptsrc_golden):
    for name, table in promptsrc_golden["gpa_weight_tables"].items():
        ours = gaussian_epoch_weights(table["MAX_EPOCH"], table["GPA_MEAN"], table["GPA_STD"])
        assert ours.dtype == torch.float64
        assert ((ours - table["weights"]).abs() / table["weights"]).max() < 1e-12, name


def test_promptsrc_vit_b16_keys_equal_the_reference_list(golden_dir, monkeypatch):
    """Shapes only (meta device); the teacher's 600 text passes are left out, they hold no key."""
    monkeypatch.setattr("trainers.promptsrc.template_mean_features", lambda clip_model, names: torch.zeros(len(names)))
    expected = read_key_list(golden_dir / "promptsrc_vit_b16_keys.txt")
    cfg = make_cfg("PROMPTSRC", {"PREC": "fp16"})
    model = CustomCLIP(cfg, [f"class {i}" for i in range(10)], meta_vit_b16_fp16())
    learned = model.learned_parts
    assert key_rows(learned, learned.state_dict()) == expected
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 46_080
    assert not any(key.startswith(("prompt_learner.ZS", "learned_parts")) for key in model.state_dict())


B2N_CONFIG = "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml"


def golden_trainer(promptsrc_golden, clip_fp32, fake_data_root, tiny_clip_checkpoint, output):
    """The engine's PromptSRC trainer with the golden run's settings, its model swapped for one on the
    golden classes, started from the golden run's start weights."""
    run = promptsrc_golden["gpa_run"]
    case = promptsrc_golden["cases"]["promptsrc_b2n_depth3"]
    hparams = {**case["hparams"], **{k: run["hparams"][k] for k in ("MAX_EPOCH", "GPA_MEAN", "GPA_STD")}}
    opts = [item for key in TRAINER_KEYS for item in (f"TRAINER.PROMPTSRC.{key}", str(hparams[key]))]
    trainer = engine_trainer("PromptSRC", B2N_CONFIG, fake_data_root, tiny_clip_checkpoint, output,
                             "OPTIM.MAX_EPOCH", str(hparams["MAX_EPOCH"]), *opts)
    model = golden_model({**case, "hparams": hparams, "start": run["start_params"]}, promptsrc_golden, clip_fp32,
                         state="start")
    trainer.model = model
    for registry in (trainer._models, trainer._optims, trainer._scheds):
        registry.clear()
    trainer.register_learner(CHECKPOINT_NAME, model.learned_parts)
    return trainer


def run_epochs(trainer, epochs, images, labels):
    """One batch per epoch, as the golden run; returns per epoch the learning rate, the loss and the
    learned tensors after the step."""
    record = []
    for trainer.epoch in epochs:
        trainer.set_model_mode("train")
        trainer.batch_idx, trainer.num_batches = 0, 1
        lr = trainer.get_current_lr()
        loss = trainer.forward_backward({"img": images, "label": labels, "domain": labels})["loss"]
        state = {n: p.detach().clone() for n, p in trainer.model.learned_parts.named_parameters()}
        record.append((lr, loss, state))
    return record


def test_promptsrc_gpa_run_matches_the_reference_and_survives_a_resume(
        promptsrc_golden, clip_fp32, fake_data_root, tiny_clip_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    run = promptsrc_golden["gpa_run"]
    images, labels = promptsrc_golden["images"], promptsrc_golden["labels"]
    trainer = golden_trainer(promptsrc_golden, clip_fp32, fake_data_root, tiny_clip_checkpoint, tmp_path / "full")
    assert torch.equal(trainer.aggregate.weights, run["gpa_weights"])
    record = run_epochs(trainer, range(4), images, labels)

    for epoch, (lr, loss, state) in enumerate(record):
        assert lr == pytest.approx(run["lr_per_epoch"][epoch].item(), rel=1e-12)
        assert loss == pytest.approx(run["loss_per_epoch"][epoch].item(), rel=1e-4)
        reference = run["gpa_params"] if epoch == 3 else run["epoch_params"][epoch]
        for key, value in reference.items():
            assert relative_error(state[key], value) < 1e-4, (epoch, key)

    # The first step by hand: SGD with momentum from a fresh state is p - lr (g + wd p).
    start, grads = run["start_params"], promptsrc_golden["cases"]["promptsrc_b2n_depth3"]["grads_total"]
    for key, value in start.items():
        by_hand = value - 1e-5 * (grads[key] + 5e-4 * value)
        assert relative_error(record[0][2][key] - value, by_hand - value) < 1e-4, key

    trainer.set_model_mode("eval")
    with torch.no_grad():
        assert relative_error(trainer.model_inference(images), run["eval_logits_after_gpa"]) < 1e-4

    # Stopped after epoch 2 and resumed from its resume.pth: the same aggregate, bit for bit.
    first = golden_trainer(promptsrc_golden, clip_fp32, fake_data_root, tiny_clip_checkpoint, tmp_path / "split")
    run_epochs(first, range(2), images, labels)
    first.save_training_state(finished=False)
    resumed = golden_trainer(promptsrc_golden, clip_fp32, fake_data_root, tiny_clip_checkpoint, tmp_path / "split")
    assert resumed.resume_training_state(str(tmp_path / "split" / "resume.pth")) == 2
    final = run_epochs(resumed, range(2, 4), images, labels)[-1][2]
    for key, value in record[-1][2].items():
        assert torch.equal(final[key], value), key


def test_reference_checkpoints_with_the_whole_model_load(promptsrc_golden, fake_data_root, tiny_clip_checkpoint,
                                                        tmp_path, monkeypatch):
    """The reference saves its whole model (frozen CLIP, the copy of the image tower, 7-class buffers):
    the learned tensors load into a 10-class EuroSAT model, the rest is left alone; a checkpoint of
    other depths is refused naming the keys."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    case = promptsrc_golden["cases"]["promptsrc_b2n_depth3"]
    whole = {**case["trainable_state_dict"], "logit_scale": torch.tensor(4.6),
             "image_encoder.conv1.weight": torch.zeros(128, 3, 8, 8),
             "prompt_learner.ZS_image_encoder.conv1.weight": torch.zeros(128, 3, 8, 8),
             **{f"prompt_learner.{k}": v for k, v in case["prompt_learner_state_dict"].items() if k != "ctx"}}
    folder = tmp_path / "reference" / "VLPromptLearner"
    folder.mkdir(parents=True)
    torch.save({"state_dict": whole, "epoch": 20, "optimizer": None, "scheduler": None}, folder / "model.pth.tar-20")
    opts = ["TRAINER.PROMPTSRC.PREC", "fp32", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "3",
            "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "3"]
    trainer = engine_trainer("PromptSRC", B2N_CONFIG, fake_data_root, tiny_clip_checkpoint, tmp_path / "run", *opts)
    prefix = trainer.model.prompt_learner.token_prefix.clone()
    trainer.load_model(str(tmp_path / "reference"), epoch=20)
    learned = trainer.model.learned_parts.state_dict()
    for key, value in case["trainable_state_dict"].items():
        assert torch.equal(learned[key], value), key
    assert torch.equal(trainer.model.prompt_learner.token_prefix, prefix) and prefix.shape[0] == 10

    opts[-1] = "2"
    shallower = engine_trainer("PromptSRC", B2N_CONFIG, fake_data_root, tiny_clip_checkpoint, tmp_path / "r2", *opts)
    with pytest.raises(ValueError, match=r"unexpected keys: text_encoder\.transformer\.resblocks\.2\.VPT_shallow"):
        shallower.load_model(str(tmp_path / "reference"), epoch=20)


def test_no_vision_prompts_leave_the_image_tower_plain_and_bad_gpa_settings_are_refused(promptsrc_golden, clip_fp32):
    cfg = make_cfg("PROMPTSRC", {"PREC": "fp32", "PROMPT_DEPTH_VISION": 0, "PROMPT_DEPTH_TEXT": 2})
    model = CustomCLIP(cfg, promptsrc_golden["classnames"], clip_fp32)
    images = promptsrc_golden["images"]
    assert not any(key.startswith("image_encoder.") for key in model.learned_parts.state_dict())
    with torch.no_grad():
        assert torch.equal(model.image_features(images), clip_fp32.encode_image(images))
    with pytest.raises(PromptConfigError, match="GPA_STD is 0; it must be positive"):
        gaussian_epoch_weights(20, 15, 0)
    with pytest.raises(PromptConfigError, match="PROMPT_DEPTH_TEXT is 0; .* between 1 and 4"):
        CustomCLIP(make_cfg("PROMPTSRC", {"PREC": "fp32", "PROMPT_DEPTH_TEXT": 0}), ["a"], clip_fp32)
