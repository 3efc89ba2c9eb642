"""CoCoOp against CoOp's own numbers (tests/golden/coop_tiny.pt); the batched forward against the
reference's one-image-at-a-time loop."""
import pytest
import torch

from baseline_helpers import make_cfg, relative_error
from trainers.cocoop import CustomCLIP


def golden_cocoop(coop_golden, clip_model, **switches):
    case = coop_golden["cases"]["cocoop_init"]
    cfg = make_cfg("COCOOP", {**case["hparams"], **switches})
    model = CustomCLIP(cfg, coop_golden["classnames"], clip_model)
    model.prompt_learner.load_state_dict(case["prompt_learner_state_dict"])
    return model, case


@pytest.mark.parametrize("batched", [False, True])
def test_cocoop_reproduces_the_reference_loss_grads_and_logits(batched, coop_golden, clip_fp32):
    model, case = golden_cocoop(coop_golden, clip_fp32, BATCHED=batched)
    assert model.images_per_pass == (1 if not batched else 4096 // 7)
    assert set(model.prompt_learner.state_dict()) == set(case["prompt_learner_state_dict"])
    images, labels = coop_golden["images"], coop_golden["labels"]

    model.train()
    loss = model(images, labels)
    loss.backward()
    assert relative_error(loss, case["loss"]) < 1e-4
    for name, param in model.prompt_learner.named_parameters():
        assert relative_error(param.grad, case["grads"][name]) < 1e-4, name
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        f"prompt_learner.{k}" for k in case["grads"]
    }

    model.eval()
    with torch.no_grad():
        assert relative_error(model(images), case["eval_logits"]) < 1e-4


def test_batched_groups_give_the_per_image_numbers(coop_golden, clip_fp32):
    """Groups of 2 images (14 prompts per pass) against the reference's loop, to float rounding."""
    looped, _ = golden_cocoop(coop_golden, clip_fp32, BATCHED=False)
    grouped, _ = golden_cocoop(coop_golden, clip_fp32, BATCHED=True, PROMPTS_PER_PASS=14)
    assert grouped.images_per_pass == 2
    images = coop_golden["images"]
    looped.eval()
    grouped.eval()
    with torch.no_grad():
        assert relative_error(grouped(images), looped(images)) < 1e-6


def test_cocoop_builds_the_reference_prompt_buffers(coop_golden, clip_fp32):
    case = coop_golden["cases"]["cocoop_init"]
    learner = CustomCLIP(make_cfg("COCOOP", case["hparams"]), coop_golden["classnames"], clip_fp32).prompt_learner
    reference = case["prompt_learner_state_dict"]
    for key in ("token_prefix", "token_suffix", "ctx"):
        assert torch.equal(learner.state_dict()[key], reference[key]), key
    assert {k: v.shape for k, v in learner.state_dict().items()} == {k: v.shape for k, v in reference.items()}
