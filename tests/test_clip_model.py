"""clip.model against open_clip (an independent implementation) and the side-branch seam contract."""
from dataclasses import asdict

import pytest
import torch
from open_clip.model import build_model_from_openai_state_dict

from clip.model import CLIP, MultiheadAttention, build_model, config_from_state_dict
from tools.make_tiny_clip import VIT_B16_SIZES, make_state_dict

EOT = 49407


def _texts(n: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.zeros(n, 77, dtype=torch.long)
    for row in range(n):
        length = 4 + 5 * row
        ids[row, 0] = 49406
        ids[row, 1:length] = torch.randint(1, 49000, (length - 1,), generator=generator)
        ids[row, length] = EOT
    return ids


def _images(model: CLIP, n: int = 2) -> torch.Tensor:
    size = model.visual.input_resolution
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.fixture(scope="module", params=["vit", "rn"])
def arch_pair(request):
    """Our CLIP and open_clip's, both built from one random OpenAI-layout state dict, in fp32."""
    state_dict = make_state_dict(request.param, seed=3)
    ours = build_model(state_dict).float()
    reference = build_model_from_openai_state_dict(dict(state_dict)).float().eval()
    return request.param, state_dict, ours, reference


def test_features_equal_open_clip(arch_pair):
    _, _, ours, reference = arch_pair
    images, texts = _images(ours), _texts()
    with torch.no_grad():
        image_ref = reference.encode_image(images)
        text_ref = reference.encode_text(texts)
        assert image_ref.abs().max() > 0.1 and text_ref.abs().max() > 0.1
        assert _max_abs(ours.encode_image(images), image_ref) < 1e-5
        assert _max_abs(ours.encode_text(texts), text_ref) < 1e-5
        logits_per_image, logits_per_text = ours(images, texts)
        ref_image_logits, _ = reference.get_logits(images, texts)
    assert _max_abs(logits_per_image, ref_image_logits) < 1e-4
    assert torch.equal(logits_per_text, logits_per_image.t())


def test_state_dict_round_trips_key_for_key(arch_pair):
    _, state_dict, ours, _ = arch_pair
    rebuilt = build_model(state_dict).state_dict()
    assert list(rebuilt) == list(state_dict)
    for key, value in state_dict.items():
        assert rebuilt[key].shape == value.shape, key
        assert torch.equal(rebuilt[key].to(value.dtype), value), key


def test_build_model_matches_release_conventions():
    state_dict = make_state_dict("vit", seed=0)
    state_dict.update(input_resolution=torch.tensor(32), context_length=torch.tensor(77),
                      vocab_size=torch.tensor(49408))
    model = build_model(state_dict)
    assert not model.training
    assert model.dtype == torch.float16
    assert model.visual.transformer.resblocks[0].attn.in_proj_weight.dtype == torch.float16
    assert model.text_projection.dtype == torch.float16 and model.visual.proj.dtype == torch.float16
    assert model.ln_final.weight.dtype == torch.float32
    assert model.visual.input_resolution == 32 and model.context_length == 77
    assert "input_resolution" in state_dict, "build_model must not modify the caller's dict"


def test_golden_tiny_clip_builds(tiny_clip_state_dict, mma_golden):
    model = build_model(tiny_clip_state_dict).float()
    config = asdict(config_from_state_dict(tiny_clip_state_dict))
    expected = dict(mma_golden["clip_config"], transformer_heads=1)
    assert {key: config[key] for key in expected} == expected
    features = model.encode_image(mma_golden["images"])
    assert features.shape == (4, 64) and torch.isfinite(features).all()


def test_vit_b16_sizes_give_the_release_parameter_count():
    state_dict = make_state_dict("vit", VIT_B16_SIZES, device="meta")
    config = config_from_state_dict(state_dict)
    assert (config.vision_width, config.vision_layers, config.vision_patch_size, config.image_resolution) == \
        (768, 12, 16, 224)
    assert (config.transformer_width, config.transformer_heads, config.transformer_layers) == (512, 8, 12)
    with torch.device("meta"):
        model = CLIP(**asdict(config))
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in state_dict.items()}
    assert sum(p.numel() for p in model.parameters()) == 149_620_737


def test_attention_matches_torch_multihead_attention():
    torch.manual_seed(0)
    ours = MultiheadAttention(128, 2)
    reference = torch.nn.MultiheadAttention(128, 2)
    for tensor in ours.parameters():
        torch.nn.init.normal_(tensor, std=0.1)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(9, 3, 128)
    mask = torch.full((9, 9), float("-inf")).triu_(1)
    expected = reference(x, x, x, need_weights=False, attn_mask=mask)[0]
    assert _max_abs(ours(x, x, x, attn_mask=mask)[0], expected) < 1e-6
    memory = torch.randn(5, 3, 128)
    expected = reference(x, memory, memory, need_weights=False)[0]
    assert _max_abs(ours(x, memory, memory)[0], expected) < 1e-6
    with pytest.raises(ValueError, match="need_weights=False"):
        ours(x, x, x, need_weights=True)


@pytest.fixture(scope="module")
def vit_model() -> CLIP:
    return build_model(make_state_dict("vit", seed=5)).float()


def _term(width: int, scale: float) -> torch.Tensor:
    """A per-feature vector: a constant would be removed by the next LayerNorm and prove nothing."""
    return scale * torch.linspace(-1.0, 1.0, width)


def _add_after(module: torch.nn.Module, term: torch.Tensor):
    return module.register_forward_hook(lambda _module, _inputs, output: output + term)


def test_no_branches_is_the_plain_forward(vit_model):
    images, texts = _images(vit_model), _texts()
    plain_image, plain_text = vit_model.encode_image(images), vit_model.encode_text(texts)
    empty = {index: None for index in range(3)}
    for branches in ({}, empty):
        assert torch.equal(vit_model.encode_image(images, branches), plain_image)
        assert torch.equal(vit_model.encode_text(texts, branches), plain_text)
    assert torch.equal(vit_model.visual(images), plain_image)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_image_branch_adds_exactly_its_term(vit_model, index):
    """A branch returning a fixed term equals adding that term after ln_pre (0) or after block k."""
    images = _images(vit_model)
    term = _term(128, 0.25)
    target = vit_model.visual.ln_pre if index == 0 else vit_model.visual.transformer.resblocks[index - 1]
    handle = _add_after(target, term)
    try:
        expected = vit_model.encode_image(images)
    finally:
        handle.remove()
    branches = {index: lambda x, h: term.expand_as(x)}
    got = vit_model.encode_image(images, branches)
    assert _max_abs(got, expected) < 1e-6
    assert _max_abs(got, vit_model.encode_image(images)) > 1e-3


@pytest.mark.parametrize("index", [0, 2])
def test_text_branch_adds_exactly_its_term(vit_model, index):
    texts = _texts()
    term = _term(64, -0.5)
    if index == 0:
        shifted = vit_model.token_embedding(texts) + term
        expected = vit_model.encode_text(texts, token_embeddings=shifted)
    else:
        handle = _add_after(vit_model.transformer.resblocks[index - 1], term)
        try:
            expected = vit_model.encode_text(texts)
        finally:
            handle.remove()
    got = vit_model.encode_text(texts, {index: lambda x, h: term.expand_as(x)})
    assert _max_abs(got, expected) < 1e-6
    assert _max_abs(got, vit_model.encode_text(texts)) > 1e-3


def test_block_branch_sees_block_input_and_its_ln_1(vit_model):
    texts = _texts()
    block = vit_model.transformer.resblocks[1]
    seen = {}
    handle = block.register_forward_pre_hook(lambda _module, inputs: seen.update(block_input=inputs[0]))
    try:
        vit_model.encode_text(texts)
    finally:
        handle.remove()

    def record(x, h):
        seen.update(x=x, h=h)
        return torch.zeros_like(x)

    vit_model.encode_text(texts, {2: record})
    assert seen["x"].shape == (77, 3, 64)
    assert torch.equal(seen["x"], seen["block_input"])
    assert torch.equal(seen["h"], block.ln_1(seen["x"]))


def test_token_embeddings_replace_the_lookup(vit_model):
    texts = _texts()
    embeddings = vit_model.token_embedding(texts)
    assert torch.equal(vit_model.encode_text(texts, token_embeddings=embeddings), vit_model.encode_text(texts))
    shorter = vit_model.encode_text(texts[:, :40], token_embeddings=embeddings[:, :40])
    assert _max_abs(shorter, vit_model.encode_text(texts)) < 1e-5


def test_resnet_rejects_branches():
    model = build_model(make_state_dict("rn", seed=0)).float()
    with pytest.raises(ValueError, match="ViT image tower"):
        model.encode_image(_images(model), {1: lambda x, h: x})
