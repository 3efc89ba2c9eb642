"""The attention adapter of arXiv 2409.02958 over CLIP's final embeddings.

For every image the reference builds one sequence of N+1 tokens (the N candidate class prompts, then
the image), runs one shared attention layer over it behind a down-projection and in front of an
up-projection, and blends the adapted embeddings with the originals. Built literally, that costs an
(N+1) x (N+1) attention map per image (ImageNet: 1001^2 x 256 x 4 heads). This module computes the same
numbers from the structure of the mask instead:

* ``cross_only`` (the paper's intended reading): a text row sees only the image, so its output is the
  image's value vector for every class; the image row is one cross-attention over the N prompts.
* ``additive_float_reference`` / ``none`` (every token sees every token, with +1 or +0 on the
  text<->image scores): the text-to-text part of a text row does not depend on the image, so it is
  computed once per batch ([heads, N, N]); each image only mixes its own value into it with a per-row
  weight.

The logits never need the adapted text embeddings themselves: they are cosines, computed from the
up-projector's hidden activations and the Gram matrix of its last layer.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dassl.utils.errors import ConfigValueError

MASKS = ("cross_only", "additive_float_reference", "none")
DOWNS = ("lowrank32_linear", "linear", "mlp")
UPS = ("lowrank32_gelu", "linear", "mlp")
BLOCKS = ("mha", "transformer")

# Scores added on text<->image pairs by the dense readings (the reference master's float mask is added
# to the attention scores, so its 1.0 entries are a bias, not a block).
_CROSS_BIAS = {"additive_float_reference": 1.0, "none": 0.0}

# The reference's ablation block: nn.TransformerEncoderLayer(width, heads, 2048, dropout 0.1).
_TRANSFORMER_FFN = 2048
_TRANSFORMER_DROPOUT = 0.1


def _check_choice(name: str, value: str, choices: Tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigValueError(f"AttentionAdapter: {name}={value!r} is not supported; choose one of {', '.join(choices)}")


def _down_projector(kind: str, embed_dim: int, width: int, bottleneck: int) -> nn.Sequential:
    if kind == "lowrank32_linear":
        return nn.Sequential(nn.Linear(embed_dim, bottleneck), nn.Linear(bottleneck, width))
    if kind == "linear":
        return nn.Sequential(nn.Linear(embed_dim, width))
    return nn.Sequential(nn.Linear(embed_dim, width), nn.GELU(), nn.Linear(width, width))


def _up_projector(kind: str, embed_dim: int, width: int, bottleneck: int) -> nn.Sequential:
    if kind == "lowrank32_gelu":
        return nn.Sequential(nn.Linear(width, bottleneck), nn.GELU(), nn.Linear(bottleneck, embed_dim))
    if kind == "linear":
        return nn.Sequential(nn.Linear(width, embed_dim))
    return nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, embed_dim))


class AttentionAdapter(nn.Module):
    """Shared attention over [N class prompts; 1 image] per image, blended back with weight ``lam``.

    ``forward(text_features [N, C], image_features [B, C]) -> logits [B, N]``: every candidate class is
    scored in one pass per image. Defaults are the reference's choices (master at width C/4):
    512 -> 32 -> 128 down, 4-head attention at width 128, 128 -> 32 -> GELU -> 512 up, lambda 0.2,
    logits = 100 x cosine; 107,712 parameters for C = 512.
    """

    def __init__(
        self,
        embed_dim: int = 512,
        mask: str = "cross_only",
        adapt_text: bool = True,
        lam: float = 0.2,
        heads: int = 4,
        width: int | None = None,
        bottleneck: int = 32,
        down: str = "lowrank32_linear",
        up: str = "lowrank32_gelu",
        block: str = "mha",
        scale: float = 100.0,
    ) -> None:
        super().__init__()
        _check_choice("mask", mask, MASKS)
        _check_choice("down", down, DOWNS)
        _check_choice("up", up, UPS)
        _check_choice("block", block, BLOCKS)
        width = embed_dim // 4 if width is None else width
        if width < 1 or width % heads != 0:
            raise ConfigValueError(
                f"AttentionAdapter: attention width {width} must be a positive multiple of heads={heads}; "
                "pick a head count that divides the width (C/4 by default)"
            )
        if not 0.0 <= lam <= 1.0:
            raise ConfigValueError(f"AttentionAdapter: lam={lam} must lie in [0, 1] (the reference uses 0.2)")
        self.mask = mask
        self.adapt_text = adapt_text
        self.lam = lam
        self.heads = heads
        self.scale = scale
        self.block = block
        self.downsampler = _down_projector(down, embed_dim, width, bottleneck)
        if block == "mha":
            self.mha = nn.MultiheadAttention(width, heads)
        else:
            self.transformer = nn.TransformerEncoderLayer(width, heads, _TRANSFORMER_FFN, _TRANSFORMER_DROPOUT)
            # Attention-weight dropout would give every image its own perturbed copy of the shared
            # text-to-text attention; it is the one part of the reference block left out (set to 0).
            self.transformer.self_attn.dropout = 0.0
        self.upsampler = _up_projector(up, embed_dim, width, bottleneck)

    @property
    def attention(self) -> nn.MultiheadAttention:
        return self.mha if self.block == "mha" else self.transformer.self_attn

    def forward(self, text_features: Tensor, image_features: Tensor) -> Tensor:
        """Logits [B, N] of every image against every candidate class prompt."""
        text, image = self._check_inputs(text_features, image_features)
        text_tokens, image_tokens = self._block(text, image, need_text=self.adapt_text)
        image_adapted = self._blend(self.upsampler(image_tokens), image)
        text_image = image_adapted @ text.t()
        if not self.adapt_text:
            return self.scale * text_image
        return self.scale * self._adapted_text_cosine(text_tokens, text, image_adapted, text_image)

    def adapted_embeddings(self, text_features: Tensor, image_features: Tensor) -> Tuple[Tensor, Tensor]:
        """The adapted embeddings themselves: text [B, N, C] (each image adapts the prompts its own way)
        and image [B, C], all unit norm. For analysis (heatmaps, t-SNE); training and scoring use forward.
        """
        text, image = self._check_inputs(text_features, image_features)
        text_tokens, image_tokens = self._block(text, image, need_text=True)
        image_adapted = self._blend(self.upsampler(image_tokens), image)
        if not self.adapt_text:
            return text.expand(image.shape[0], -1, -1), image_adapted
        return self._blend(self.upsampler(text_tokens), text), image_adapted

    def _check_inputs(self, text_features: Tensor, image_features: Tensor) -> Tuple[Tensor, Tensor]:
        embed_dim = self.upsampler[-1].out_features
        for name, x in (("text_features", text_features), ("image_features", image_features)):
            if x.dim() != 2 or x.shape[1] != embed_dim:
                raise ValueError(
                    f"AttentionAdapter: {name} must have shape [n, {embed_dim}], got {tuple(x.shape)}; "
                    "pass the final CLIP embeddings of the class prompts and of the images"
                )
        dtype = self.upsampler[-1].weight.dtype
        return F.normalize(text_features.to(dtype), dim=-1), F.normalize(image_features.to(dtype), dim=-1)

    def _blend(self, adapted: Tensor, original: Tensor) -> Tensor:
        return F.normalize(self.lam * F.normalize(adapted, dim=-1) + (1.0 - self.lam) * original, dim=-1)

    def _block(self, text: Tensor, image: Tensor, need_text: bool) -> Tuple[Tensor, Tensor]:
        """Block outputs: text tokens [B, N, W] (or [B, 1, W] when equal for all classes) and image [B, W]."""
        text_in = self.downsampler(text)
        image_in = self.downsampler(image)
        text_attn, image_attn = _factorised_attention(self.attention, text_in, image_in, self.mask, need_text)
        if self.block == "mha":
            return text_attn, image_attn
        layer = self.transformer
        image_out = self._transformer_tail(image_in + layer.dropout1(image_attn))
        if not need_text:
            return text_attn, image_out
        return self._transformer_tail(text_in + layer.dropout1(text_attn)), image_out

    def _transformer_tail(self, residual: Tensor) -> Tensor:
        """The token-wise rest of a post-norm encoder layer, after the attention residual."""
        layer = self.transformer
        y = layer.norm1(residual)
        ffn = layer.linear2(layer.dropout(layer.activation(layer.linear1(y))))
        return layer.norm2(y + layer.dropout2(ffn))

    def _adapted_text_cosine(self, text_tokens: Tensor, text: Tensor, image_adapted: Tensor, text_image: Tensor) -> Tensor:
        """cos(adapted image b, adapted text (b, c)) without forming the [B, N, C] adapted texts.

        With u = W h + b the up-projector's output from hidden h, the adapted text is
        t' = norm(lam * u/|u| + (1 - lam) * t), so every cosine needs only |u|, u.t and u.v'.
        """
        last = self.upsampler[-1]
        hidden = self.upsampler[:-1](text_tokens)
        weight, bias = last.weight, last.bias
        gram = weight.t() @ weight
        norm_sq = ((hidden @ gram) * hidden).sum(-1) + 2.0 * (hidden @ (weight.t() @ bias)) + bias @ bias
        norm = norm_sq.clamp_min(1e-24).sqrt()
        u_dot_text = (hidden * (text @ weight)).sum(-1) + text @ bias
        u_dot_image = (hidden * (image_adapted @ weight).unsqueeze(1)).sum(-1) + (image_adapted @ bias).unsqueeze(1)
        lam = self.lam
        cos_u_text = u_dot_text / norm
        cos_u_image = u_dot_image / norm
        text_norm = (lam * lam + (1.0 - lam) ** 2 + 2.0 * lam * (1.0 - lam) * cos_u_text).clamp_min(1e-24).sqrt()
        return (lam * cos_u_image + (1.0 - lam) * text_image) / text_norm


def _split_heads(x: Tensor, heads: int) -> Tensor:
    """[n, W] -> [heads, n, W / heads]."""
    return x.unflatten(-1, (heads, -1)).transpose(0, 1)


def _merge_heads(x: Tensor) -> Tensor:
    """[..., heads, n, d] -> [..., n, heads * d]."""
    return x.transpose(-3, -2).flatten(-2)


def _factorised_attention(
    attn: nn.MultiheadAttention, text_in: Tensor, image_in: Tensor, mask: str, need_text: bool
) -> Tuple[Tensor, Tensor]:
    """The attention layer's outputs over [text_in; image_b] for every image b, per mask reading.

    Equal to ``attn(seq, seq, seq, attn_mask=...)`` on the (N+1, B, W) sequence of the reference, without
    any (N+1)^2 map per image. Returns text rows [B, N, W] ([B, 1, W] under cross_only) and image rows [B, W].
    """
    heads = attn.num_heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    head_dim = w_q.shape[0] // heads
    q_text = _split_heads(F.linear(text_in, w_q, b_q), heads) * head_dim**-0.5
    k_text = _split_heads(F.linear(text_in, w_k, b_k), heads)
    v_text = _split_heads(F.linear(text_in, w_v, b_v), heads)
    q_image = _split_heads(F.linear(image_in, w_q, b_q), heads) * head_dim**-0.5
    v_image_flat = F.linear(image_in, w_v, b_v)
    v_image = _split_heads(v_image_flat, heads)
    out_proj = attn.out_proj

    image_to_text = q_image @ k_text.transpose(-1, -2)  # [H, B, N]
    if mask == "cross_only":
        # Image row: the N prompts only (its own diagonal is blocked). Text rows: the image only, so a
        # softmax over one key: every class gets the image's value vector.
        image_out = _merge_heads(torch.softmax(image_to_text, dim=-1) @ v_text)
        text_out = F.linear(v_image_flat, out_proj.weight, out_proj.bias).unsqueeze(1) if need_text else None
        return text_out, F.linear(image_out, out_proj.weight, out_proj.bias)

    cross_bias = _CROSS_BIAS[mask]
    k_image = _split_heads(F.linear(image_in, w_k, b_k), heads)
    image_to_self = (q_image * k_image).sum(-1, keepdim=True)  # [H, B, 1]
    image_weights = torch.softmax(torch.cat([image_to_text + cross_bias, image_to_self], dim=-1), dim=-1)
    image_out = image_weights[..., :-1] @ v_text + image_weights[..., -1:] * v_image
    image_out = F.linear(_merge_heads(image_out), out_proj.weight, out_proj.bias)
    if not need_text:
        return None, image_out

    # Text row c of image b: softmax over [N prompts; image b]. The prompt part is the same for every
    # image: an attention over the prompts (output text_mix, log-normaliser text_lse), into which image
    # b enters with the weight sigmoid(score(c, b) - text_lse[c]).
    text_to_text = q_text @ k_text.transpose(-1, -2)  # [H, N, N]
    text_lse = torch.logsumexp(text_to_text, dim=-1, keepdim=True)  # [H, N, 1]
    text_mix = torch.softmax(text_to_text, dim=-1) @ v_text  # [H, N, d]
    text_to_image = q_text @ k_image.transpose(-1, -2) + cross_bias  # [H, N, B]
    image_weight = torch.sigmoid(text_to_image - text_lse).permute(2, 0, 1).unsqueeze(-1)  # [B, H, N, 1]
    text_out = text_mix + image_weight * (v_image.transpose(0, 1).unsqueeze(2) - text_mix)  # [B, H, N, d]
    return F.linear(_merge_heads(text_out), out_proj.weight, out_proj.bias), image_out
