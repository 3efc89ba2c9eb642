"""CLIP in OpenAI's layout, with an explicit side-branch seam for adapters.

Module and parameter names and the sequence-first (LND) layout inside the transformers follow
OpenAI's release, so released checkpoints load key for key and CoOp-style code that reaches into
`clip_model.transformer`, `visual.conv1`, ... works unchanged.

Side branches (see docs/CLIP.md): a method passes `branches`, a mapping from layer index to a
callable `branch(x, h)`. Index 0 is the embedding level (text: token embeddings before the positional
embedding; image: the ln_pre output), given batch-first [N, L, D] tensors as (e, e) / (h, h).
Index k >= 1 is the k-th residual block (1-based, as in MMA), given the block input x and
h = ln_1(x) in sequence-first [L, N, D] layout; its returned term is added after the MLP.
Deep prompts (see docs/CLIP.md): a method passes `deep_prompts`, a mapping from the same indices to
token tensors ([n, width] shared by the batch, or [N, n, width]). Text: index 0 replaces the token
embeddings at positions 1..n (after SOS, before the positional embedding is added), index k >= 1
replaces the hidden states at those positions entering block k. Image: index 0 appends n tokens after
the patch tokens (after the positional embedding, before ln_pre), index k >= 1 replaces those last n
tokens entering block k. With no branches and no prompts every forward equals OpenAI's CLIP.
"""
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dassl.utils.errors import CheckpointMismatchError

SideBranch = Callable[[Tensor, Tensor], Tensor]
Branches = Mapping[int, Optional[SideBranch]]
DeepPrompts = Mapping[int, Tensor]
TEXT_PROMPT_START = 1  # text prompts take the positions right after the start-of-text token


def _branch_at(branches: Optional[Branches], index: int) -> Optional[SideBranch]:
    return branches.get(index) if branches else None


def _prompt_at(prompts: Optional[DeepPrompts], index: int) -> Optional[Tensor]:
    return prompts.get(index) if prompts else None


def check_deep_prompts(prompts: Optional[DeepPrompts], layers: int, width: int, tower: str) -> int:
    """Validate a tower's deep prompts; returns their token count (0 without prompts).

    Indices run 0..layers, every tensor is [n, width] or [N, n, width] with one n for the tower.
    """
    if not prompts:
        return 0
    outside = sorted(k for k in prompts if not 0 <= k <= layers)
    if outside:
        raise ValueError(f"deep prompts at indices {outside}: the {tower} tower takes 0 (embedding level) "
                         f"to {layers} (its blocks, 1-based)")
    counts = set()
    for index, prompt in prompts.items():
        if prompt.dim() not in (2, 3) or prompt.shape[-1] != width:
            raise ValueError(f"the {tower} deep prompt at index {index} has shape {tuple(prompt.shape)}; "
                             f"it must be [n, {width}] or [batch, n, {width}]")
        counts.add(prompt.shape[-2])
    if len(counts) > 1:
        raise ValueError(f"the {tower} deep prompts have different token counts {sorted(counts)}; "
                         "every index replaces the same span, so they must have one")
    return counts.pop()


def _prompt_rows(prompt: Tensor, x: Tensor) -> Tensor:
    """``prompt`` as sequence-first rows [n, N, D] in ``x``'s dtype, for a sequence-first ``x``."""
    prompt = prompt.to(x.dtype)
    if prompt.dim() == 2:
        return prompt.unsqueeze(1).expand(-1, x.shape[1], -1)
    return prompt.permute(1, 0, 2)


def replace_span(x: Tensor, start: int, prompt: Tensor) -> Tensor:
    """Sequence-first ``x`` [L, N, D] with rows ``start``.. replaced by ``prompt`` (a new tensor, so
    gradients reach the prompt and not the replaced states)."""
    rows = _prompt_rows(prompt, x)
    end = start + rows.shape[0]
    if start < 0 or end > x.shape[0]:
        raise ValueError(f"deep prompt span {start}..{end - 1} does not fit a sequence of {x.shape[0]} tokens")
    return torch.cat([x[:start], rows, x[end:]])


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 whatever the input dtype (fp16 checkpoints need it)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).to(x.dtype)


class QuickGELU(nn.Module):
    """The sigmoid approximation of GELU that CLIP was trained with; exact GELU drifts the features."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class MultiheadAttention(nn.Module):
    """Multi-head attention with nn.MultiheadAttention's parameters, run by scaled_dot_product_attention.

    Inputs are sequence-first [L, N, D]. The call signature follows nn.MultiheadAttention
    (query, key, value, need_weights, attn_mask) and returns (output, None).
    """

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.batch_first = False
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: Tensor) -> Tensor:
        length, batch, _ = x.shape
        return x.reshape(length, batch, self.num_heads, self.head_dim).permute(1, 2, 0, 3)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, need_weights: bool = False,
                attn_mask: Optional[Tensor] = None) -> Tuple[Tensor, None]:
        if need_weights:
            raise ValueError("this attention runs through scaled_dot_product_attention and does not "
                             "return attention weights; call it with need_weights=False")
        if query is key and key is value:
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3)
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)
            q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
        if attn_mask is not None and attn_mask.dtype != torch.bool:
            attn_mask = attn_mask.to(q.dtype)
        out = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v),
                                             attn_mask=attn_mask)
        length, batch = query.shape[0], query.shape[1]
        out = out.permute(2, 0, 1, 3).reshape(length, batch, self.embed_dim)
        return self.out_proj(out), None


class ResidualAttentionBlock(nn.Module):
    """A pre-LN transformer block; `branch(x, ln_1(x))` is added in parallel to the whole block."""

    def __init__(self, d_model: int, n_head: int, attn_mask: Optional[Tensor] = None):
        super().__init__()
        self.attn = MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = LayerNorm(d_model)
        self.register_buffer("attn_mask", attn_mask, persistent=False)

    def attention(self, x: Tensor) -> Tensor:
        mask = self.attn_mask
        if mask is not None:
            mask = mask[: x.shape[0], : x.shape[0]].to(dtype=x.dtype, device=x.device)
        return self.attn(x, x, x, need_weights=False, attn_mask=mask)[0]

    def forward(self, x: Tensor, branch: Optional[SideBranch] = None) -> Tensor:
        h = self.ln_1(x)
        y = x + self.attention(h)
        y = y + self.mlp(self.ln_2(y))
        if branch is not None:
            y = y + branch(x, h)
        return y


class Transformer(nn.Module):
    """A stack of residual blocks; block k (0-based) receives `branches[k + 1]`."""

    def __init__(self, width: int, layers: int, heads: int, attn_mask: Optional[Tensor] = None):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x: Tensor, branches: Optional[Branches] = None, first: int = 1,
                last: Optional[int] = None, deep_prompts: Optional[DeepPrompts] = None,
                prompt_start: int = TEXT_PROMPT_START) -> Tensor:
        """Run blocks `first..last` (1-based, inclusive; default all). A method that caches the
        hidden states below its first adapted block runs the rest with `first` (docs/SPEED.md).
        `deep_prompts[k]` (k >= 1) replaces the rows from `prompt_start` on before block k; index 0
        belongs to the tower's embedding level and is ignored here."""
        last = self.layers if last is None else last
        if not branches and not deep_prompts and first == 1 and last == self.layers:
            return self.resblocks(x)
        for position in range(first - 1, last):
            prompt = _prompt_at(deep_prompts, position + 1)
            if prompt is not None:
                x = replace_span(x, prompt_start, prompt)
            x = self.resblocks[position](x, _branch_at(branches, position + 1))
        return x


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution: int, patch_size: int, width: int, layers: int, heads: int,
                 output_dim: int):
        super().__init__()
        self.input_resolution = input_resolution
        self.output_dim = output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        grid = input_resolution // patch_size
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def embed(self, x: Tensor) -> Tensor:
        """Patch and class tokens with positions, after ln_pre: batch-first [N, L, width]."""
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.ln_pre(x)

    def head(self, h: Tensor) -> Tensor:
        """The image feature from the last block's batch-first output: ln_post of the class token,
        projected. A method that runs the blocks itself (e.g. from cached states) ends with this."""
        out = self.ln_post(h[:, 0, :])
        if self.proj is not None:
            out = out @ self.proj
        return out

    def forward(self, x: Tensor, branches: Optional[Branches] = None,
                deep_prompts: Optional[DeepPrompts] = None) -> Tensor:
        n_prompts = check_deep_prompts(deep_prompts, self.transformer.layers, self.transformer.width, "image")
        h = self.embed(x)
        if n_prompts:
            appended = _prompt_at(deep_prompts, 0)
            if appended is None:
                raise ValueError("image deep prompts at blocks k >= 1 replace the tokens appended at index 0; "
                                 "give deep_prompts[0] too")
            # ln_pre normalises each token alone, so the appended tokens take it on their own.
            rows = _prompt_rows(appended, h.permute(1, 0, 2)).permute(1, 0, 2)
            h = torch.cat([h, self.ln_pre(rows)], dim=1)
        embedding_branch = _branch_at(branches, 0)
        if embedding_branch is not None:
            h = h + embedding_branch(h, h)
        h = self.transformer(h.permute(1, 0, 2), branches, deep_prompts=deep_prompts,
                             prompt_start=h.shape[1] - n_prompts).permute(1, 0, 2)
        return self.head(h)


class Bottleneck(nn.Module):
    """ResNet bottleneck with anti-aliased downsampling (an avgpool before strided paths)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu3 = nn.ReLU(inplace=True)
        self.downsample = None
        self.stride = stride
        if stride > 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * self.expansion, 1, stride=1, bias=False)),
                ("1", nn.BatchNorm2d(planes * self.expansion)),
            ]))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu3(out + identity)


class AttentionPool2d(nn.Module):
    """Attention pooling: the mean token (plus positions) attends over the spatial grid."""

    def __init__(self, spacial_dim: int, embed_dim: int, num_heads: int, output_dim: Optional[int] = None):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(spacial_dim ** 2 + 1, embed_dim) / embed_dim ** 0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim or embed_dim)
        self.num_heads = num_heads

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(start_dim=2).permute(2, 0, 1)
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)
        x = x + self.positional_embedding[:, None, :].to(x.dtype)
        length, batch, width = x.shape
        head_dim = width // self.num_heads

        def heads(t: Tensor) -> Tensor:
            return t.reshape(t.shape[0], batch, self.num_heads, head_dim).permute(1, 2, 0, 3)

        q, k, v = heads(self.q_proj(x[:1])), heads(self.k_proj(x)), heads(self.v_proj(x))
        out = F.scaled_dot_product_attention(q, k, v).permute(2, 0, 1, 3).reshape(1, batch, width)
        return self.c_proj(out).squeeze(0)


class ModifiedResNet(nn.Module):
    """CLIP's ResNet: a 3-conv stem with avgpool, anti-aliased strides, attention pooling."""

    def __init__(self, layers: Tuple[int, int, int, int], output_dim: int, heads: int,
                 input_resolution: int = 224, width: int = 64):
        super().__init__()
        self.output_dim = output_dim
        self.input_resolution = input_resolution
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu3 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        embed_dim = width * 32
        self.attnpool = AttentionPool2d(input_resolution // 32, embed_dim, heads, output_dim)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        modules = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * Bottleneck.expansion
        modules += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(self.conv1.weight.dtype)
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.avgpool(self.relu3(self.bn3(self.conv3(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


@dataclass(frozen=True)
class CLIPConfig:
    """Every size of a CLIP; `vision_layers` is an int for a ViT, a 4-tuple for a ResNet."""

    embed_dim: int
    image_resolution: int
    vision_layers: Union[int, Tuple[int, int, int, int]]
    vision_width: int
    vision_patch_size: Optional[int]
    context_length: int
    vocab_size: int
    transformer_width: int
    transformer_heads: int
    transformer_layers: int


class CLIP(nn.Module):
    def __init__(self, embed_dim: int, image_resolution: int,
                 vision_layers: Union[int, Tuple[int, int, int, int]], vision_width: int,
                 vision_patch_size: Optional[int], context_length: int, vocab_size: int,
                 transformer_width: int, transformer_heads: int, transformer_layers: int):
        super().__init__()
        self.context_length = context_length
        if isinstance(vision_layers, (tuple, list)):
            self.visual = ModifiedResNet(tuple(vision_layers), output_dim=embed_dim,
                                         heads=vision_width * 32 // 64, input_resolution=image_resolution,
                                         width=vision_width)
        else:
            self.visual = VisionTransformer(image_resolution, vision_patch_size, vision_width, vision_layers,
                                            heads=vision_width // 64, output_dim=embed_dim)
        self.transformer = Transformer(transformer_width, transformer_layers, transformer_heads,
                                       attn_mask=self.build_attention_mask())
        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * torch.log(torch.tensor(1 / 0.07)))
        self.initialize_parameters()

    def initialize_parameters(self) -> None:
        """CLIP's initialisation: small normals, scaled by width and depth in the transformers."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        if isinstance(self.visual, ModifiedResNet):
            pool = self.visual.attnpool
            std = pool.c_proj.in_features ** -0.5
            for linear in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
                nn.init.normal_(linear.weight, std=std)
            for stage in (self.visual.layer1, self.visual.layer2, self.visual.layer3, self.visual.layer4):
                for block in stage:
                    nn.init.zeros_(block.bn3.weight)
        width, layers = self.transformer.width, self.transformer.layers
        proj_std = width ** -0.5 * (2 * layers) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=width ** -0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=width ** -0.5)

    def build_attention_mask(self) -> Tensor:
        """Causal mask for the text transformer: -inf above the diagonal, 0 elsewhere."""
        return torch.full((self.context_length, self.context_length), float("-inf")).triu_(1)

    @property
    def dtype(self) -> torch.dtype:
        return self.visual.conv1.weight.dtype

    def encode_image(self, image: Tensor, branches: Optional[Branches] = None,
                     deep_prompts: Optional[DeepPrompts] = None) -> Tensor:
        if not branches and not deep_prompts:
            return self.visual(image.to(self.dtype))
        if not isinstance(self.visual, VisionTransformer):
            raise ValueError("side branches and deep prompts need a ViT image tower; this CLIP has a "
                             "ResNet image tower")
        return self.visual(image.to(self.dtype), branches, deep_prompts)

    def encode_text(self, text: Tensor, branches: Optional[Branches] = None,
                    token_embeddings: Optional[Tensor] = None,
                    deep_prompts: Optional[DeepPrompts] = None) -> Tensor:
        """Text features; `text` gives the EOT positions, `token_embeddings` may replace its embedding,
        `deep_prompts` replace the positions after SOS at the embedding level and at chosen blocks."""
        check_deep_prompts(deep_prompts, self.transformer.layers, self.transformer.width, "text")
        x = self.text_transformer_input(text, branches, token_embeddings, _prompt_at(deep_prompts, 0))
        return self.text_features_from(self.transformer(x, branches, deep_prompts=deep_prompts), text)

    def text_transformer_input(self, text: Tensor, branches: Optional[Branches] = None,
                               token_embeddings: Optional[Tensor] = None,
                               context: Optional[Tensor] = None) -> Tensor:
        """The input of text block 1, sequence-first [L, N, width]: embeddings (positions 1..n replaced
        by `context` when given, then the index-0 branch) plus positions; L is the given length, so a
        causal prefix of the tokens may be passed."""
        if token_embeddings is None:
            e = self.token_embedding(text).to(self.dtype)
        else:
            e = token_embeddings.to(self.dtype)
        if e.shape[1] > self.context_length:
            e = e[:, : self._context_columns(text)]
        if context is not None:
            e = replace_span(e.permute(1, 0, 2), TEXT_PROMPT_START, context).permute(1, 0, 2)
        embedding_branch = _branch_at(branches, 0)
        if embedding_branch is not None:
            e = e + embedding_branch(e, e)
        x = e + self.positional_embedding[: e.shape[1]].to(self.dtype)
        return x.permute(1, 0, 2)

    def _context_columns(self, text: Tensor) -> int:
        """Token rows are tokenized at 77 by default; a CLIP with a shorter context takes them when
        the columns past its context are padding."""
        if text[:, self.context_length:].any():
            longest = int((text != 0).sum(dim=-1).max())
            raise ValueError(f"a text has {longest} tokens, more than this CLIP's context length "
                             f"{self.context_length}; shorten the prompt (or its learned context)")
        return self.context_length

    def text_features_from(self, x: Tensor, text: Tensor) -> Tensor:
        """ln_final, the EOT row and the projection, on the last text block's output [L, N, width]."""
        x = self.ln_final(x.permute(1, 0, 2)).to(self.dtype)
        return x[torch.arange(x.shape[0], device=x.device), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image: Tensor, text: Tensor) -> Tuple[Tensor, Tensor]:
        image_features = self.encode_image(image)
        text_features = self.encode_text(text)
        image_features = image_features / image_features.norm(dim=1, keepdim=True)
        text_features = text_features / text_features.norm(dim=1, keepdim=True)
        logits_per_image = self.logit_scale.exp() * image_features @ text_features.t()
        return logits_per_image, logits_per_image.t()


def convert_weights(model: nn.Module) -> None:
    """Cast convolution, linear, attention and projection weights to fp16, as the release does.

    LayerNorm, BatchNorm, embeddings and logit_scale stay in their dtype, exactly like OpenAI's model.
    """

    def to_half(module: nn.Module) -> None:
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            module.weight.data = module.weight.data.half()
            if module.bias is not None:
                module.bias.data = module.bias.data.half()
        if isinstance(module, MultiheadAttention):
            module.in_proj_weight.data = module.in_proj_weight.data.half()
            module.in_proj_bias.data = module.in_proj_bias.data.half()
        for name in ("text_projection", "proj"):
            tensor = getattr(module, name, None)
            if isinstance(tensor, nn.Parameter):
                tensor.data = tensor.data.half()

    model.apply(to_half)


ACTIVATIONS = {"quick_gelu": QuickGELU, "gelu": nn.GELU}


def set_architecture(model: CLIP, activation: str = "quick_gelu", vision_heads: Optional[int] = None,
                     text_heads: Optional[int] = None) -> CLIP:
    """Apply what a state dict's shapes do not show: the MLP activation (OpenAI's QuickGELU, or the
    exact GELU most open_clip trainings use) and the number of attention heads of each tower."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation {activation!r} is not one of {sorted(ACTIVATIONS)}")
    towers = [(model.transformer, text_heads)]
    if isinstance(model.visual, VisionTransformer):
        towers.append((model.visual.transformer, vision_heads))
    for transformer, heads in towers:
        for block in transformer.resblocks:
            block.mlp.gelu = ACTIVATIONS[activation]()
            if heads is not None:
                if transformer.width % heads:
                    raise ValueError(f"width {transformer.width} is not divisible by {heads} heads")
                block.attn.num_heads, block.attn.head_dim = heads, transformer.width // heads
    return model


_NON_WEIGHT_KEYS = ("input_resolution", "context_length", "vocab_size")


def _count_indices(state_dict: Mapping[str, Tensor], prefix: str) -> int:
    return len({key[len(prefix):].split(".")[0] for key in state_dict if key.startswith(prefix)})


def config_from_state_dict(state_dict: Mapping[str, Tensor]) -> CLIPConfig:
    """Infer every size of a CLIP from the shapes in an OpenAI-layout state dict."""
    required = ("text_projection", "positional_embedding", "token_embedding.weight", "ln_final.weight")
    missing = [key for key in required if key not in state_dict]
    if missing:
        raise CheckpointMismatchError(f"not an OpenAI-layout CLIP state dict: missing {missing} "
                                      f"(first keys: {list(state_dict)[:5]})")
    if "visual.proj" in state_dict:
        vision_width = state_dict["visual.conv1.weight"].shape[0]
        vision_layers = sum(1 for key in state_dict
                            if key.startswith("visual.") and key.endswith(".attn.in_proj_weight"))
        vision_patch_size = state_dict["visual.conv1.weight"].shape[-1]
        grid = round((state_dict["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        image_resolution = vision_patch_size * grid
    else:
        vision_layers = tuple(_count_indices(state_dict, f"visual.layer{stage}.") for stage in (1, 2, 3, 4))
        vision_width = state_dict["visual.layer1.0.conv1.weight"].shape[0]
        output_grid = round((state_dict["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
        vision_patch_size = None
        image_resolution = output_grid * 32
    transformer_width = state_dict["ln_final.weight"].shape[0]
    return CLIPConfig(
        embed_dim=state_dict["text_projection"].shape[1],
        image_resolution=image_resolution,
        vision_layers=vision_layers,
        vision_width=vision_width,
        vision_patch_size=vision_patch_size,
        context_length=state_dict["positional_embedding"].shape[0],
        vocab_size=state_dict["token_embedding.weight"].shape[0],
        transformer_width=transformer_width,
        transformer_heads=transformer_width // 64,
        transformer_layers=_count_indices(state_dict, "transformer.resblocks."),
    )


def build_model(state_dict: Mapping[str, Tensor], draw_initialisation: bool = True) -> CLIP:
    """Build a CLIP sized from `state_dict`, load it with fp16 weights as released, in eval mode.

    The checkpoint overwrites every weight, so CLIP's random initialisation matters only for where it
    leaves torch's generator. `draw_initialisation=False` skips it (the modules are built on the meta
    device, which draws nothing) and gives the same model a few seconds sooner. A checkpoint whose
    weights are not fp16 (open_clip's fp32 trainings) keeps its dtype.
    """
    weights = {key: value for key, value in state_dict.items() if key not in _NON_WEIGHT_KEYS}
    config = asdict(config_from_state_dict(weights))
    if draw_initialisation:
        model = CLIP(**config)
    else:
        with torch.device("meta"):
            model = CLIP(**config)
        model.to_empty(device="cpu")
        mask = model.build_attention_mask()  # the one tensor the checkpoint does not hold
        for block in model.transformer.resblocks:
            block.attn_mask = mask
    if weights["text_projection"].dtype == torch.float16:
        convert_weights(model)
    model.load_state_dict(weights)
    return model.eval()
