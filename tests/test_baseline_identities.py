"""Identities between the baselines, and that every trainable one learns a tiny separable problem."""
import pytest
import torch
import torch.nn.functional as F

from baseline_helpers import fp32_clip, make_cfg, relative_error
from trainers import clip_adapter, cocoop, coop
from trainers.zsclip import zeroshot_classifier, zeroshot_logits


@pytest.fixture(scope="module")
def zero_shot(coop_golden, clip_fp32):
    """Zero-shot CLIP logits of the golden images with the template "a photo of a {}."."""
    features = zeroshot_classifier(clip_fp32, ["a photo of a {}."], coop_golden["classnames"])
    with torch.no_grad():
        return zeroshot_logits(clip_fp32, coop_golden["images"], features)


@pytest.mark.parametrize("position", ["end", "middle", "front"])
def test_coop_with_initial_context_and_no_training_is_zero_shot_clip(position, coop_golden, clip_fp32, zero_shot):
    cfg = make_cfg("COOP", {"CTX_INIT": "a photo of a", "CLASS_TOKEN_POSITION": position})
    model = coop.CustomCLIP(cfg, coop_golden["classnames"], clip_fp32).eval()
    with torch.no_grad():
        logits = model(coop_golden["images"])
    if position == "end":
        assert relative_error(logits, zero_shot) < 1e-6
    else:
        assert relative_error(logits, zero_shot) > 1e-3  # the class tokens really moved


@pytest.mark.parametrize("variant", ["released", "arxiv"])
def test_clip_adapter_with_ratio_zero_is_zero_shot_clip(variant, coop_golden, clip_fp32, zero_shot):
    cfg = make_cfg("CLIP_ADAPTER", {"RATIO": 0.0, "VARIANT": variant}, dataset="Caltech101")
    model = clip_adapter.CustomCLIP(cfg, coop_golden["classnames"], clip_fp32).eval()
    with torch.no_grad():
        logits = model(coop_golden["images"])
    assert relative_error(logits, zero_shot) < 1e-6


def test_clip_adapter_variants_and_per_dataset_ratio(clip_fp32, coop_golden):
    cfg = make_cfg("CLIP_ADAPTER", {"DATASET_RATIOS": ("EuroSAT=0.6", "Caltech101=0.35")}, dataset="Caltech101")
    model = clip_adapter.CustomCLIP(cfg, coop_golden["classnames"], clip_fp32)
    assert model.ratio == 0.35
    assert list(model.adapter.state_dict()) == ["fc.0.weight", "fc.2.weight"]
    assert model.adapter.fc[0].weight.shape == (16, 64) and model.adapter.fc[0].bias is None
    image = coop_golden["images"]
    feature = clip_fp32.encode_image(image)
    for variant in ("released", "arxiv"):
        model.variant = variant
        with torch.no_grad():
            base = feature / feature.norm(dim=-1, keepdim=True) if variant == "arxiv" else feature
            mixed = 0.35 * torch.relu(torch.relu(base @ model.adapter.fc[0].weight.t()) @ model.adapter.fc[2].weight.t())
            mixed = mixed + 0.65 * base
            mixed = mixed / mixed.norm(dim=-1, keepdim=True)
            expected = clip_fp32.logit_scale.exp() * mixed @ model.text_features.t()
            assert relative_error(model(image), expected) < 1e-6


def test_clip_adapter_variants_compute_the_same_function(clip_fp32, coop_golden):
    """The adapter is bias-free with ReLUs, so adapter(c f) = c adapter(f) for c > 0, and the mix is
    renormalised: adapting the normalised feature (arxiv) gives the released variant's logits."""
    torch.manual_seed(0)
    cfg = make_cfg("CLIP_ADAPTER", {"RATIO": 0.5}, dataset="Caltech101")
    model = clip_adapter.CustomCLIP(cfg, coop_golden["classnames"], clip_fp32).eval()
    with torch.no_grad():
        released = model(coop_golden["images"])
        model.variant = "arxiv"
        arxiv = model(coop_golden["images"])
    assert relative_error(arxiv, released) < 1e-5


def test_clip_adapter_rejects_bad_ratios(clip_fp32, coop_golden):
    cfg = make_cfg("CLIP_ADAPTER", {"DATASET_RATIOS": ("Caltech101:0.3",)}, dataset="Caltech101")
    with pytest.raises(ValueError, match=r'"DatasetName=alpha"'):
        clip_adapter.CustomCLIP(cfg, coop_golden["classnames"], clip_fp32)
    cfg = make_cfg("CLIP_ADAPTER", {"RATIO": 1.5}, dataset="Caltech101")
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        clip_adapter.CustomCLIP(cfg, coop_golden["classnames"], clip_fp32)


def _learning_curve(params, loss_fn, lr, steps=12):
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# SGD learning rates that suit each method's parameter scale on this problem.
LEARNING_RATES = {"CoOp": 0.05, "CoOp-csc-front": 0.05, "CoCoOp": 1.0, "CLIP_Adapter": 0.2, "CLIP_Adapter-arxiv": 0.2}


@pytest.mark.parametrize("method", list(LEARNING_RATES))
def test_loss_goes_down_on_a_tiny_separable_problem(method, coop_golden, tiny_clip_state_dict):
    """Four images of four different classes: twelve SGD steps cut each method's loss by a quarter."""
    torch.manual_seed(0)
    clip_model = fp32_clip(tiny_clip_state_dict)
    images, labels, names = coop_golden["images"], coop_golden["labels"], coop_golden["classnames"]
    if method.startswith("CoOp"):
        values = {"N_CTX": 4, "CSC": True, "CLASS_TOKEN_POSITION": "front"} if method.endswith("front") else {"N_CTX": 4}
        model = coop.CustomCLIP(make_cfg("COOP", values), names, clip_model)
        params, loss_fn = model.prompt_learner.parameters(), lambda: F.cross_entropy(model(images), labels)
    elif method == "CoCoOp":
        model = cocoop.CustomCLIP(make_cfg("COCOOP", {"N_CTX": 4}), names, clip_model)
        params, loss_fn = model.prompt_learner.parameters(), lambda: model(images, labels)
    else:
        variant = "arxiv" if method.endswith("arxiv") else "released"
        model = clip_adapter.CustomCLIP(make_cfg("CLIP_ADAPTER", {"VARIANT": variant, "RATIO": 0.5}), names, clip_model)
        params, loss_fn = model.adapter.parameters(), lambda: F.cross_entropy(model(images), labels)
    model.train()
    losses = _learning_curve(list(params), loss_fn, LEARNING_RATES[method])
    assert losses[-1] < 0.75 * losses[0], losses
    assert all(not p.requires_grad for n, p in model.named_parameters() if n.startswith("clip_model."))
