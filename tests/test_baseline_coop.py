"""CoOp against CoOp's own numbers (tests/golden/coop_tiny.pt), and its zero-training identity."""
import pytest
import torch
import torch.nn.functional as F

from baseline_helpers import make_cfg, relative_error
from trainers.coop import CustomCLIP

COOP_CASES = ["coop_generic_end", "coop_init_end", "coop_csc_middle", "coop_generic_front"]


def golden_coop(case, coop_golden, clip_model):
    cfg = make_cfg("COOP", case["hparams"])
    model = CustomCLIP(cfg, coop_golden["classnames"], clip_model)
    model.prompt_learner.load_state_dict(case["prompt_learner_state_dict"])
    return model


@pytest.mark.parametrize("name", COOP_CASES)
def test_coop_reproduces_the_reference_logits_loss_and_grads(name, coop_golden, clip_fp32):
    case = coop_golden["cases"][name]
    model = golden_coop(case, coop_golden, clip_fp32)
    assert set(model.prompt_learner.state_dict()) == set(case["prompt_learner_state_dict"])
    images, labels = coop_golden["images"], coop_golden["labels"]

    model.train()
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    assert relative_error(logits, case["train_logits"]) < 1e-4
    assert relative_error(loss, case["loss"]) < 1e-4
    assert relative_error(model.prompt_learner.ctx.grad, case["grads"]["ctx"]) < 1e-4
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["prompt_learner.ctx"]

    model.eval()
    with torch.no_grad():
        assert relative_error(model(images), case["eval_logits"]) < 1e-4


@pytest.mark.parametrize("name", COOP_CASES)
def test_coop_builds_the_reference_prompt_buffers(name, coop_golden, clip_fp32):
    """Built from the class names alone, the frozen token buffers (and a context initialised from
    words) equal the ones CoOp's code stored."""
    case = coop_golden["cases"][name]
    learner = CustomCLIP(make_cfg("COOP", case["hparams"]), coop_golden["classnames"], clip_fp32).prompt_learner
    reference = case["prompt_learner_state_dict"]
    for key in ("token_prefix", "token_suffix"):
        assert torch.equal(learner.state_dict()[key], reference[key]), key
    assert learner.ctx.shape == reference["ctx"].shape
    if case["hparams"]["CTX_INIT"]:
        assert torch.equal(learner.ctx.detach(), reference["ctx"])
