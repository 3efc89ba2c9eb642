"""MMA against the reference implementation's numbers (tests/golden/mma_tiny.pt) and its ViT-B/16 layout."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from clip.model import CLIP, build_model
from dassl.optim import build_optimizer
from mma_helpers import mma_cfg, relative_error
from trainers.mmadapter import CustomCLIP

CASES = ["top_layers", "from_embedding"]


def golden_model(mma_golden, case_name: str) -> CustomCLIP:
    case = mma_golden["cases"][case_name]
    clip_model = build_model(mma_golden["clip_state_dict"]).float()
    model = CustomCLIP(mma_cfg(case["hparams"]), mma_golden["classnames"], clip_model)
    model.adapter_learner.load_adapter_state_dict(case["adapter_state_dict"], source="golden")
    return model


@pytest.fixture(scope="module", params=CASES)
def golden_run(request, mma_golden):
    """One train-mode forward/backward and one eval forward of a golden case."""
    case = mma_golden["cases"][request.param]
    model = golden_model(mma_golden, request.param)
    model.adapter_learner.train()
    train_logits = model(mma_golden["images"])
    loss = F.cross_entropy(train_logits, mma_golden["labels"])
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.adapter_learner.named_parameters()}
    model.adapter_learner.eval()
    with torch.no_grad():
        eval_logits = model(mma_golden["images"])
    return dict(case=case, model=model, train_logits=train_logits.detach(), loss=loss.detach(),
                grads=grads, eval_logits=eval_logits)


def test_prompts_tokenize_like_the_reference(golden_run):
    assert torch.equal(golden_run["model"].adapter_learner.tokenized_prompts, golden_run["case"]["tokenized_prompts"])


def test_train_logits_and_loss_match(golden_run):
    assert relative_error(golden_run["train_logits"], golden_run["case"]["train_logits"]) < 1e-4
    assert relative_error(golden_run["loss"], golden_run["case"]["loss"]) < 1e-4


def test_train_loss_is_a_few_ulp_from_the_reference(golden_run):
    """The rounding-only difference of docs/MMA.md: 2 ulp on both golden cases (float32 spacing)."""
    ours, reference = golden_run["loss"].float(), torch.as_tensor(golden_run["case"]["loss"]).float()
    spacing = torch.nextafter(reference, reference + 1) - reference
    assert (ours - reference).abs() <= 4 * spacing


def test_adapter_gradients_match(golden_run):
    ref = golden_run["case"]["adapter_grads"]
    assert set(golden_run["grads"]) == set(ref)
    for name, grad in golden_run["grads"].items():
        assert relative_error(grad, ref[name]) < 1e-4, name


def test_eval_logits_match(golden_run):
    assert relative_error(golden_run["eval_logits"], golden_run["case"]["eval_logits"]) < 1e-4


def test_only_the_adapters_are_trainable(golden_run):
    model = golden_run["model"]
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"adapter_learner.{k}" for k in golden_run["case"]["adapter_grads"]}


def test_one_sgd_step_with_the_reference_settings(golden_run, repo_root):
    """SGD (momentum 0.9, wd 5e-4, lr 0.0015) from zero momentum: p <- p - lr * (g + wd * p)."""
    cfg = mma_cfg({}, repo_root / "configs/trainers/MultiModalAdapter/vit_b16_ep5.yaml")
    learner = golden_run["model"].adapter_learner
    before = {name: p.detach().clone() for name, p in learner.named_parameters()}
    optimizer = build_optimizer(learner, cfg.OPTIM)
    golden_grads = golden_run["case"]["adapter_grads"]
    for name, p in learner.named_parameters():
        p.grad = golden_grads[name].clone()
    optimizer.step()
    lr, wd = 0.0015, 5e-4
    assert (cfg.OPTIM.NAME, cfg.OPTIM.LR, cfg.OPTIM.WEIGHT_DECAY, cfg.OPTIM.MOMENTUM) == ("sgd", lr, wd, 0.9)
    for name, p in learner.named_parameters():
        expected = before[name] - lr * (golden_grads[name] + wd * before[name])
        torch.testing.assert_close(p.detach(), expected, rtol=1e-6, atol=1e-9)


def _reference_key_file(golden_dir: Path):
    entries, total = [], None
    for line in (golden_dir / "mma_vit_b16_adapter_keys.txt").read_text().splitlines():
        if line.startswith("# trainable parameters:"):
            total = int(line.split(":")[1])
        elif line and not line.startswith("#"):
            key, dtype, shape = line.split(" ", 2)
            entries.append((key, dtype, tuple(int(s) for s in shape.strip("(,)").split(",") if s.strip())))
    return entries, total


def test_vit_b16_adapter_keys_and_shapes_equal_the_reference(golden_dir):
    """ViT-B/16 built on the meta device (no weights): the reference's keys, dtypes, shapes, count."""
    entries, total = _reference_key_file(golden_dir)
    with torch.device("meta"):
        clip_model = CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                          vision_patch_size=16, context_length=77, vocab_size=49408, transformer_width=512,
                          transformer_heads=8, transformer_layers=12)
        model = CustomCLIP(mma_cfg({}), [f"class_{i}" for i in range(10)], clip_model)
    learner = model.adapter_learner
    ours = [(k, str(v.dtype).replace("torch.", ""), tuple(v.shape)) for k, v in learner.state_dict().items()]
    buffers = [(k, str(v.dtype).replace("torch.", ""), tuple(v.shape)) for k, v in learner.named_buffers()]
    assert ours == [e for e in entries if e[0] not in ("token_embedding", "tokenized_prompts")]
    assert sorted(buffers) == sorted(e for e in entries if e[0] in ("token_embedding", "tokenized_prompts"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == total == 674_560
