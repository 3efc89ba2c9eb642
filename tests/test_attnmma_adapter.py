"""The attention adapter of arXiv 2409.02958: golden parity, shapes, and the mask readings."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from trainers.attnmma.adapter import AttentionAdapter

GOLDEN_CASES = {
    "master_float_mask_text_and_image": dict(mask="additive_float_reference", adapt_text=True),
    "cross_only_mask_text_and_image": dict(mask="cross_only", adapt_text=True),
    "cross_only_mask_image_only": dict(mask="cross_only", adapt_text=False),
}


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours - ref).abs().max() / ref.abs().max()).item()


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def full_sequence_mask(n_text: int, reading: str) -> torch.Tensor:
    """The (N+1)^2 mask of the reference's sequence [N prompts; image], built by hand."""
    cross = torch.zeros(n_text + 1, n_text + 1)
    cross[:n_text, n_text] = 1.0
    cross[n_text, :n_text] = 1.0
    if reading == "additive_float_reference":
        return cross
    if reading == "cross_only":
        return torch.where(cross.bool(), 0.0, float("-inf"))
    return torch.zeros_like(cross)


def reference_adapted(adapter: AttentionAdapter, text, image, reading):
    """The literal reference computation: one (N+1, B, C) sequence, torch attention with the full mask."""
    text, image = F.normalize(text, dim=-1), F.normalize(image, dim=-1)
    n, b = text.shape[0], image.shape[0]
    seq = torch.cat([text.unsqueeze(1).expand(n, b, -1), image.unsqueeze(0)], dim=0)
    x = adapter.downsampler(seq)
    mask = full_sequence_mask(n, reading)
    if adapter.block == "mha":
        x = adapter.mha(x, x, x, attn_mask=mask, need_weights=False)[0]
    else:
        x = adapter.transformer(x, src_mask=mask)
    out = adapter.upsampler(x)
    lam = adapter.lam
    image_new = F.normalize(lam * F.normalize(out[n], dim=-1) + (1 - lam) * image, dim=-1)
    text_new = F.normalize(lam * F.normalize(out[:n], dim=-1) + (1 - lam) * text.unsqueeze(1), dim=-1)
    return text_new.transpose(0, 1), image_new, x


def scaled_up(adapter: AttentionAdapter, seed: int) -> AttentionAdapter:
    """Weights well away from the default init so that the readings give clearly different numbers."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return adapter


@pytest.fixture(scope="module")
def embeddings():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(6, 64, generator=gen), torch.randn(3, 64, generator=gen)


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_parity(attnmma_golden, case):
    golden = attnmma_golden["cases"][case]
    adapter = AttentionAdapter(embed_dim=512, lam=0.2, scale=math.exp(attnmma_golden["logit_scale"]), **GOLDEN_CASES[case])
    assert list(adapter.state_dict()) == list(golden["adapter_state_dict"])
    adapter.load_state_dict(golden["adapter_state_dict"])
    assert n_params(adapter) == golden["trainable_params"] == 107_712

    logits = adapter(attnmma_golden["text_features"], attnmma_golden["image_features"])
    loss = F.cross_entropy(logits, attnmma_golden["labels"])
    loss.backward()
    assert rel_err(logits, golden["logits"]) < 1e-4
    assert abs(loss.item() - golden["loss"].item()) / abs(golden["loss"].item()) < 1e-4
    for name, param in adapter.named_parameters():
        assert rel_err(param.grad, golden["adapter_grads"][name]) < 1e-4, name


def test_reference_shapes():
    adapter = AttentionAdapter()
    shapes = {k: tuple(v.shape) for k, v in adapter.state_dict().items()}
    assert shapes["downsampler.0.weight"] == (32, 512)
    assert shapes["downsampler.1.weight"] == (128, 32)
    assert shapes["mha.in_proj_weight"] == (384, 128) and adapter.mha.num_heads == 4
    assert shapes["upsampler.0.weight"] == (32, 128)
    assert isinstance(adapter.upsampler[1], torch.nn.GELU)
    assert shapes["upsampler.2.weight"] == (512, 32)


@pytest.mark.parametrize(
    "kwargs, count",
    [
        (dict(), 107_712),
        (dict(width=256), 313_152),  # the 28 May commit (C/2)
        (dict(down="linear", up="linear"), 197_760),
        (dict(down="mlp", up="mlp"), 230_784),
        (dict(block="transformer"), 107_712 - 66_048 + 593_024),  # encoder layer, FFN 2048
        (dict(heads=16), 107_712),
    ],
)
def test_parameter_counts(kwargs, count):
    assert n_params(AttentionAdapter(embed_dim=512, **kwargs)) == count


@pytest.mark.parametrize("reading", ["cross_only", "additive_float_reference", "none"])
@pytest.mark.parametrize("block", ["mha", "transformer"])
def test_equals_literal_full_sequence(embeddings, reading, block):
    text, image = embeddings
    adapter = scaled_up(AttentionAdapter(embed_dim=64, mask=reading, block=block, scale=10.0), seed=1).eval()
    text_ref, image_ref, _ = reference_adapted(adapter, text, image, reading)
    text_ours, image_ours = adapter.adapted_embeddings(text, image)
    assert rel_err(text_ours, text_ref) < 1e-5
    assert rel_err(image_ours, image_ref) < 1e-5
    logits_ref = 10.0 * torch.einsum("bc,bnc->bn", image_ref, text_ref)
    assert rel_err(adapter(text, image), logits_ref) < 1e-5


def test_cross_only_text_adaptation_same_for_every_class(embeddings):
    text, image = embeddings
    adapter = scaled_up(AttentionAdapter(embed_dim=64, mask="cross_only"), seed=2)
    _, _, block_out = reference_adapted(adapter, text, image, "cross_only")
    n = text.shape[0]
    for c in range(1, n):
        torch.testing.assert_close(block_out[c], block_out[0])
    # The text rows are the image's value vector: out_proj(W_v D(v) + b_v).
    w_v, b_v = adapter.mha.in_proj_weight.chunk(3)[2], adapter.mha.in_proj_bias.chunk(3)[2]
    value = adapter.downsampler(F.normalize(image, dim=-1)) @ w_v.t() + b_v
    torch.testing.assert_close(block_out[0], adapter.mha.out_proj(value))


def test_cross_only_image_row_is_attention_over_prompts(embeddings):
    text, image = embeddings
    adapter = scaled_up(AttentionAdapter(embed_dim=64, mask="cross_only", heads=4), seed=3)
    _, _, block_out = reference_adapted(adapter, text, image, "cross_only")
    d_text = adapter.downsampler(F.normalize(text, dim=-1))
    d_image = adapter.downsampler(F.normalize(image, dim=-1))
    w_q, w_k, w_v = adapter.mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = adapter.mha.in_proj_bias.chunk(3)
    head_dim = 16 // 4
    for b in range(image.shape[0]):
        heads = []
        for h in range(4):
            rows = slice(h * head_dim, (h + 1) * head_dim)
            q = d_image[b] @ w_q[rows].t() + b_q[rows]
            k = d_text @ w_k[rows].t() + b_k[rows]
            v = d_text @ w_v[rows].t() + b_v[rows]
            weights = torch.softmax(k @ q / head_dim**0.5, dim=0)
            heads.append(weights @ v)
        torch.testing.assert_close(block_out[-1, b], adapter.mha.out_proj(torch.cat(heads)))


def test_float_reference_equals_torch_attention_with_float_mask(embeddings):
    text, image = embeddings
    adapter = scaled_up(AttentionAdapter(embed_dim=64, mask="additive_float_reference"), seed=4)
    n = text.shape[0]
    mask = torch.zeros(n + 1, n + 1)
    mask[:n, n] = mask[n, :n] = 1.0
    seq = torch.cat([F.normalize(text, dim=-1).unsqueeze(1).expand(n, 3, -1), F.normalize(image, dim=-1)[None]])
    x = adapter.downsampler(seq)
    attn = torch.nn.MultiheadAttention(16, 4)
    attn.load_state_dict(adapter.mha.state_dict())
    out = adapter.upsampler(attn(x, x, x, attn_mask=mask)[0])
    lam = 0.2
    text_new = F.normalize(lam * F.normalize(out[:n], dim=-1) + (1 - lam) * seq[:n], dim=-1)
    image_new = F.normalize(lam * F.normalize(out[n], dim=-1) + (1 - lam) * seq[n], dim=-1)
    expected = 100.0 * torch.einsum("bc,nbc->bn", image_new, text_new)
    assert rel_err(adapter(text, image), expected) < 1e-5
    # The +1 is a bias, not a block: the float reading differs from no mask at all.
    no_mask = AttentionAdapter(embed_dim=64, mask="none")
    no_mask.load_state_dict(adapter.state_dict())
    assert rel_err(no_mask(text, image), expected) > 1e-3


@pytest.mark.parametrize("reading", ["cross_only", "additive_float_reference", "none"])
@pytest.mark.parametrize("adapt_text", [True, False])
def test_batched_equals_one_image_at_a_time(embeddings, reading, adapt_text):
    text, image = embeddings
    adapter = scaled_up(AttentionAdapter(embed_dim=64, mask=reading, adapt_text=adapt_text), seed=5)
    batched = adapter(text, image)
    for b in range(image.shape[0]):
        torch.testing.assert_close(batched[b : b + 1], adapter(text, image[b : b + 1]))


def test_image_only_leaves_text_untouched(embeddings):
    text, image = embeddings
    adapter = scaled_up(AttentionAdapter(embed_dim=64, adapt_text=False), seed=6)
    text_new, image_new = adapter.adapted_embeddings(text, image)
    torch.testing.assert_close(text_new[1], F.normalize(text, dim=-1))
    torch.testing.assert_close(adapter(text, image), 100.0 * image_new @ F.normalize(text, dim=-1).t())


def test_lambda_zero_is_zero_shot_clip(embeddings):
    text, image = embeddings
    adapter = scaled_up(AttentionAdapter(embed_dim=64, lam=0.0), seed=7)
    expected = 100.0 * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).t()
    torch.testing.assert_close(adapter(text, image), expected)


class LargestIntermediate(TorchDispatchMode):
    """Records the largest tensor any operation produces."""

    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.numel = max(self.numel, t.numel())
        return out


@pytest.mark.parametrize("reading", ["cross_only", "additive_float_reference"])
def test_no_per_image_attention_maps(reading):
    """Training step with N = 300 classes, B = 8: no intermediate as large as B x (N+1)^2."""
    gen = torch.Generator().manual_seed(8)
    text, image = torch.randn(300, 512, generator=gen), torch.randn(8, 512, generator=gen)
    adapter = AttentionAdapter(mask=reading)
    with LargestIntermediate() as probe:
        F.cross_entropy(adapter(text, image), torch.arange(8)).backward()
    assert probe.numel < 8 * 301**2
    assert probe.numel >= 8 * 300 * (32 if reading == "cross_only" else 128)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mask="bool"), "mask='bool' is not supported; choose one of cross_only"),
        (dict(down="conv"), "down='conv' is not supported"),
        (dict(block="lstm"), "block='lstm' is not supported"),
        (dict(heads=3), "must be a positive multiple of heads=3"),
        (dict(lam=1.5), "lam=1.5 must lie in [0, 1]"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError) as err:
        AttentionAdapter(embed_dim=512, **kwargs)
    assert message in str(err.value)


def test_wrong_embedding_width_is_named():
    adapter = AttentionAdapter(embed_dim=512)
    with pytest.raises(ValueError, match=r"image_features must have shape \[n, 512\], got \(2, 64\)"):
        adapter(torch.randn(3, 512), torch.randn(2, 64))
