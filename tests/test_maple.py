"""MaPLe against the reference's own numbers (tests/golden/maple_tiny.pt) and its ViT-B/16 key list."""
import pytest
import torch

from baseline_helpers import fp32_clip, make_cfg, relative_error
from deep_prompt_helpers import key_rows, meta_vit_b16_fp16, read_key_list
from trainers.kit.deep_prompts import PromptConfigError
from trainers.maple import CustomCLIP

# The cases that keep the reference's fp16 rounding of inserted prompts are a documented difference.
EXACT_CASES = ["maple_depth3_init", "maple_depth2_random", "maple_depth1_init"]


@pytest.fixture(scope="session")
def maple_golden(golden_dir):
    return torch.load(golden_dir / "maple_tiny.pt", map_location="cpu", weights_only=False)


def golden_model(case, golden, clip_model, state="prompt_learner_state_dict"):
    model = CustomCLIP(make_cfg("MAPLE", case["hparams"]), golden["classnames"], clip_model)
    model.prompt_learner.load_state_dict(case[state])
    return model


@pytest.mark.parametrize("name", EXACT_CASES)
def test_maple_reproduces_the_reference(name, maple_golden, clip_fp32):
    case = maple_golden["cases"][name]
    model = golden_model(case, maple_golden, clip_fp32)
    images, labels = maple_golden["images"], maple_golden["labels"]
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable == sorted(case["trainable_names"])
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == case["trainable_params"]

    model.eval()
    with torch.no_grad():
        prompts, first_vision, deep_text, deep_vision = model.prompt_learner()
        image_features, text_features = model.features(images)
        eval_logits = model(images)
    reference = case["intermediates"]
    assert relative_error(prompts, reference["text_prompts"]) < 1e-4
    assert relative_error(first_vision, reference["shared_ctx"]) < 1e-4
    assert len(deep_vision) == len(reference["deep_prompts_vision"]) == case["hparams"]["PROMPT_DEPTH"] - 1
    for ours, theirs in zip(deep_text + deep_vision, reference["deep_prompts_text"] + reference["deep_prompts_vision"]):
        assert relative_error(ours, theirs) < 1e-4
    assert relative_error(text_features / text_features.norm(dim=-1, keepdim=True), reference["text_features"]) < 1e-4
    assert relative_error(image_features / image_features.norm(dim=-1, keepdim=True), reference["image_features"]) < 1e-4
    assert relative_error(eval_logits, case["eval_logits"]) < 1e-4

    model.train()
    loss = model(images, labels)
    loss.backward()
    assert relative_error(loss, case["loss"]) < 1e-4
    grads = {n: p.grad for n, p in model.prompt_learner.named_parameters()}
    assert set(grads) == set(case["grads"])
    for key, grad in case["grads"].items():
        assert relative_error(grads[key], grad) < 1e-4, key


@pytest.mark.parametrize("name", EXACT_CASES)
def test_maple_builds_the_reference_learner(name, maple_golden, tiny_clip_state_dict):
    """From the same generator state after the same CLIP build, every tensor starts as the reference's
    (the deeper projections as identical copies), and the token buffers equal its ones."""
    case = maple_golden["cases"][name]
    torch.manual_seed(case["build_seed"])
    clip_model = fp32_clip(tiny_clip_state_dict)
    learner = CustomCLIP(make_cfg("MAPLE", case["hparams"]), maple_golden["classnames"], clip_model).prompt_learner
    ours = learner.state_dict()
    assert list(ours) == list(case["init_state_dict"])
    for key, value in case["init_state_dict"].items():
        assert torch.equal(ours[key], value), key
    assert torch.equal(learner.tokenized_prompts, case["tokenized_prompts"])


def test_maple_vit_b16_learner_keys_equal_the_reference_list(golden_dir):
    """The released b2n config on CLIP ViT-B/16 (shapes only, on the meta device) under PREC fp16."""
    expected = read_key_list(golden_dir / "maple_vit_b16_keys.txt")
    clip_model = meta_vit_b16_fp16()
    cfg = make_cfg("MAPLE", {"N_CTX": 2, "CTX_INIT": "a photo of a", "PROMPT_DEPTH": 9, "PREC": "fp16"})
    learner = CustomCLIP(cfg, [f"class {i}" for i in range(10)], clip_model).prompt_learner
    assert key_rows(learner, learner.state_dict()) == expected
    assert sum(p.numel() for p in learner.parameters()) == 3_555_072


def test_maple_refuses_a_depth_the_backbone_lacks(clip_fp32):
    with pytest.raises(PromptConfigError, match=r"PROMPT_DEPTH is 5; this backbone's tower has 4 blocks"):
        CustomCLIP(make_cfg("MAPLE", {"PROMPT_DEPTH": 5, "PREC": "fp32"}), ["a", "b"], clip_fp32)
