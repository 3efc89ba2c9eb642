"""The deep-prompt seam of clip.model: tokens replaced inside the text tower, appended and replaced in
the image tower, checked against forwards written out by hand from the model's own pieces."""
import pytest
import torch

from clip.model import CLIP, build_model
from tools.make_tiny_clip import TINY_VIT_SIZES, make_state_dict

EOT = 49407


@pytest.fixture(scope="module")
def model() -> CLIP:
    """A tiny ViT CLIP with 4 blocks per tower, so prompts can sit at inner blocks."""
    sizes = dict(TINY_VIT_SIZES, vision_layers=4, transformer_layers=4)
    return build_model(make_state_dict("vit", sizes=sizes, seed=7)).float()


def _texts() -> torch.Tensor:
    ids = torch.zeros(3, 77, dtype=torch.long)
    for row, length in enumerate((6, 9, 12)):
        ids[row, 0] = 49406
        ids[row, 1:length] = torch.arange(100 + row, 100 + row + length - 1)
        ids[row, length] = EOT
    return ids


def _images(model: CLIP) -> torch.Tensor:
    size = model.visual.input_resolution
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(3))


def _prompt(n: int, width: int, seed: int) -> torch.Tensor:
    return torch.randn(n, width, generator=torch.Generator().manual_seed(seed))


def _replace_before(block: torch.nn.Module, rows: slice, prompt: torch.Tensor):
    """A pre-hook that overwrites ``rows`` of a block's sequence-first input with ``prompt``."""

    def hook(_module, inputs):
        x = inputs[0].clone()
        x[rows] = prompt.unsqueeze(1).expand(-1, x.shape[1], -1)
        return (x,) + tuple(inputs[1:])

    return block.register_forward_pre_hook(hook)


def _image_by_hand(model: CLIP, images: torch.Tensor, appended: torch.Tensor) -> torch.Tensor:
    """The image tower written out: patches, CLS, positions, prompts appended, ln_pre, blocks, CLS row."""
    visual = model.visual
    x = visual.conv1(images).flatten(2).permute(0, 2, 1)
    cls = visual.class_embedding.expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding
    x = torch.cat([x, appended.expand(x.shape[0], -1, -1)], dim=1)
    x = visual.transformer(visual.ln_pre(x).permute(1, 0, 2)).permute(1, 0, 2)
    return visual.ln_post(x[:, 0]) @ visual.proj


def test_no_prompts_is_the_plain_forward(model):
    images, texts = _images(model), _texts()
    assert torch.equal(model.encode_image(images, deep_prompts={}), model.encode_image(images))
    assert torch.equal(model.encode_text(texts, deep_prompts={}), model.encode_text(texts))


def test_text_context_replaces_the_embeddings_after_sos_before_positions(model):
    texts, context = _texts(), _prompt(2, 64, 1)
    embeddings = model.token_embedding(texts).clone()
    embeddings[:, 1:3] = context
    expected = model.encode_text(texts, token_embeddings=embeddings)
    got = model.encode_text(texts, deep_prompts={0: context})
    assert (got - expected).abs().max() < 1e-6
    assert (got - model.encode_text(texts)).abs().max() > 1e-3


@pytest.mark.parametrize("block", [1, 3])
def test_text_block_prompt_replaces_the_hidden_states_entering_the_block(model, block):
    texts, prompt = _texts(), _prompt(3, 64, 2)
    handle = _replace_before(model.transformer.resblocks[block - 1], slice(1, 4), prompt)
    try:
        expected = model.encode_text(texts)
    finally:
        handle.remove()
    got = model.encode_text(texts, deep_prompts={block: prompt})
    assert (got - expected).abs().max() < 1e-6
    assert (got - model.encode_text(texts)).abs().max() > 1e-3


def test_image_prompts_are_appended_after_positions_and_replaced_at_blocks(model):
    images, first, deeper = _images(model), _prompt(2, 128, 3), _prompt(2, 128, 4)
    expected = _image_by_hand(model, images, first)
    got = model.encode_image(images, deep_prompts={0: first})
    assert (got - expected).abs().max() < 1e-5
    assert (got - model.encode_image(images)).abs().max() > 1e-3

    length = model.visual.positional_embedding.shape[0] + 2
    handle = _replace_before(model.visual.transformer.resblocks[1], slice(length - 2, length), deeper)
    try:
        expected = _image_by_hand(model, images, first)
    finally:
        handle.remove()
    got = model.encode_image(images, deep_prompts={0: first, 2: deeper})
    assert (got - expected).abs().max() < 1e-5


def test_per_sample_prompts_equal_shared_ones_row_by_row(model):
    images = _images(model)
    shared = {0: _prompt(2, 128, 5), 3: _prompt(2, 128, 6)}
    per_sample = {k: v.unsqueeze(0).expand(2, -1, -1) for k, v in shared.items()}
    assert (model.encode_image(images, deep_prompts=shared)
            - model.encode_image(images, deep_prompts=per_sample)).abs().max() < 1e-6


def test_gradients_reach_every_prompt(model):
    texts, images = _texts(), _images(model)
    text_prompts = {k: _prompt(2, 64, 10 + k).requires_grad_() for k in (0, 2, 4)}
    image_prompts = {k: _prompt(2, 128, 20 + k).requires_grad_() for k in (0, 2, 4)}
    (model.encode_text(texts, deep_prompts=text_prompts).sum()
     + model.encode_image(images, deep_prompts=image_prompts).sum()).backward()
    for prompt in [*text_prompts.values(), *image_prompts.values()]:
        assert prompt.grad is not None and prompt.grad.abs().sum() > 0


def test_bad_prompts_are_refused_with_the_fix(model):
    texts, images = _texts(), _images(model)
    with pytest.raises(ValueError, match=r"indices \[5\].*0 \(embedding level\) to 4"):
        model.encode_text(texts, deep_prompts={5: _prompt(2, 64, 0)})
    with pytest.raises(ValueError, match=r"must be \[n, 128\]"):
        model.encode_image(images, deep_prompts={0: _prompt(2, 64, 0)})
    with pytest.raises(ValueError, match="give deep_prompts\\[0\\] too"):
        model.encode_image(images, deep_prompts={2: _prompt(2, 128, 0)})
    with pytest.raises(ValueError, match="different token counts"):
        model.encode_image(images, deep_prompts={0: _prompt(2, 128, 0), 1: _prompt(3, 128, 0)})
    resnet = build_model(make_state_dict("rn", seed=0)).float()
    with pytest.raises(ValueError, match="ViT image tower"):
        resnet.encode_image(_images(resnet), deep_prompts={0: _prompt(2, 64, 0)})
