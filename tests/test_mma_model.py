"""CustomCLIP on tiny CLIPs: the eval text-feature cache, layer-range and backbone errors, precision."""
import warnings

import pytest
import torch

import train
from clip.model import build_model
from dassl.config import get_cfg_default
from dassl.engine import build_trainer
from tools.make_tiny_clip import make_state_dict, save_state_dict
from trainers.kit.backbone import effective_precision, load_clip, warn_fp16_on_cpu
from trainers.mmadapter import CustomCLIP, build_custom_clip

CLASSNAMES = ["golden_retriever", "tabby cat", "Boeing 737-800"]


def mma_cfg(**mma):
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    for key, value in mma.items():
        setattr(cfg.TRAINER.MMADAPTER, key, value)
    return cfg


def tiny_clip(text_layers=2, vision_layers=2, arch="vit"):
    sizes = {"transformer_layers": text_layers}
    if arch == "vit":
        sizes["vision_layers"] = vision_layers
    return build_model(make_state_dict(arch, sizes)).float()


@pytest.fixture
def eval_model():
    torch.manual_seed(0)
    model = CustomCLIP(mma_cfg(ADAPTER_START=1, ADAPTER_END=2, ADAPTER_SCALE=0.5), CLASSNAMES, tiny_clip())
    model.adapter_learner.eval()
    return model


def fresh_text_features(model):
    with torch.no_grad():
        return model.encode_prompts()


def test_eval_text_features_are_computed_once(eval_model):
    first = eval_model.text_features()
    assert eval_model.text_features() is first
    assert not first.requires_grad
    torch.testing.assert_close(first, fresh_text_features(eval_model), rtol=0, atol=0)


def test_an_optimizer_step_invalidates_the_cache(eval_model):
    before = eval_model.text_features()
    optimizer = torch.optim.SGD(eval_model.adapter_learner.parameters(), lr=10.0)
    for p in eval_model.adapter_learner.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    after = eval_model.text_features()
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, fresh_text_features(eval_model), rtol=0, atol=0)


def test_loading_weights_invalidates_the_cache(eval_model):
    before = eval_model.text_features()
    state = {k: torch.randn_like(v) for k, v in eval_model.adapter_learner.state_dict().items()}
    eval_model.adapter_learner.load_adapter_state_dict(state, source="random weights")
    after = eval_model.text_features()
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, fresh_text_features(eval_model), rtol=0, atol=0)


def test_train_mode_recomputes_with_gradients(eval_model):
    cached = eval_model.text_features()
    eval_model.adapter_learner.train()
    features = eval_model.text_features()
    assert features.requires_grad and features is not cached
    assert eval_model.text_features() is not features
    eval_model.adapter_learner.eval()
    assert eval_model.text_features() is not cached


def test_asymmetric_tower_depths_use_absolute_indices():
    """Like ViT-L/14 (24 image blocks, 12 text blocks): indices are absolute in both towers."""
    model = CustomCLIP(mma_cfg(ADAPTER_START=1, ADAPTER_END=2), CLASSNAMES, tiny_clip(text_layers=2, vision_layers=5))
    assert sorted(model.adapter_learner.visual_branches()) == [1, 2]
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, len(CLASSNAMES))


@pytest.mark.parametrize("text_layers, vision_layers, tower, depth", [(2, 3, "text", 2), (4, 2, "image", 2)])
def test_end_beyond_a_tower_is_refused(text_layers, vision_layers, tower, depth):
    clip_model = tiny_clip(text_layers, vision_layers)
    with pytest.raises(ValueError, match=rf"ADAPTER_END is 3, but the {tower} transformer .* has only {depth} "
                                         rf"blocks \(numbered 1..{depth}\); set ADAPTER_END <= 2"):
        CustomCLIP(mma_cfg(ADAPTER_START=1, ADAPTER_END=3), CLASSNAMES, clip_model)


@pytest.mark.parametrize("mma, message", [
    (dict(ADAPTER_START=2, ADAPTER_END=1), r"ADAPTER_START \(2\) is greater than ADAPTER_END \(1\)"),
    (dict(ADAPTER_START=-1, ADAPTER_END=1), r"ADAPTER_START is -1; layer indices start at 0"),
    (dict(ADAPTER_START=1, ADAPTER_END=2, ADAPTER_DIM=0), r"ADAPTER_DIM is 0; it must be a positive integer"),
    (dict(ADAPTER_START=1, ADAPTER_END=2, ADAPTER_SCALE=0.0), r"ADAPTER_SCALE is 0.0; it must be positive"),
])
def test_bad_hparams_are_refused(mma, message):
    with pytest.raises(ValueError, match=message):
        CustomCLIP(mma_cfg(**mma), CLASSNAMES, tiny_clip())


def test_resnet_backbone_is_refused():
    with pytest.raises(ValueError, match="MultiModalAdapter needs a ViT image tower, .* has a ModifiedResNet"):
        CustomCLIP(mma_cfg(ADAPTER_START=1, ADAPTER_END=2), CLASSNAMES, tiny_clip(arch="rn"))


def test_input_size_must_match_the_backbone(tiny_clip_checkpoint):
    cfg = mma_cfg(ADAPTER_START=1, ADAPTER_END=2)
    cfg.MODEL.BACKBONE.NAME = str(tiny_clip_checkpoint)
    with pytest.raises(ValueError, match=r"INPUT.SIZE is \(224, 224\), .* takes 32x32 images. Set INPUT.SIZE \(32, 32\)"):
        build_custom_clip(cfg, CLASSNAMES, "fp32")


def test_unknown_precision_is_refused_before_anything_is_built():
    cfg = mma_cfg(PREC="bf16")
    cfg.TRAINER.NAME = "MultiModalAdapter"
    with pytest.raises(ValueError, match=r"TRAINER.MMADAPTER.PREC is 'bf16'; it must be one of fp16, fp32, amp"):
        build_trainer(cfg)


def test_precision_per_device(capsys):
    warn_fp16_on_cpu.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert effective_precision("amp", torch.device("cpu")) == "fp32"
        assert effective_precision("fp32", torch.device("cpu")) == "fp32"
        assert effective_precision("amp", torch.device("cuda")) == "amp"
        assert effective_precision("fp16", torch.device("cuda")) == "fp16"
        assert capsys.readouterr().out == ""
        assert effective_precision("fp16", torch.device("cpu")) == "fp32"
        assert effective_precision("fp16", torch.device("cpu")) == "fp32"
    assert capsys.readouterr().out == (  # one line, once per process, no UserWarning
        "Warning: PREC fp16 is not supported on CPU; running in fp32 instead "
        "(set the trainer's PREC to fp32 or amp to silence this).\n"
    )


def test_fp16_casts_clip_and_adapters_to_half(tmp_path):
    path = save_state_dict(make_state_dict("vit"), tmp_path / "tiny.pt")
    cfg = mma_cfg(ADAPTER_START=0, ADAPTER_END=2)
    cfg.MODEL.BACKBONE.NAME = str(path)
    half = CustomCLIP(cfg, CLASSNAMES, load_clip(cfg, "fp16"))
    assert half.dtype == torch.float16
    assert all(p.dtype == torch.float16 for p in half.adapter_learner.parameters())
    assert half.adapter_learner.token_embedding.dtype == torch.float16
    full = CustomCLIP(cfg, CLASSNAMES, load_clip(cfg, "fp32"))
    assert all(p.dtype == torch.float32 for p in full.parameters())
