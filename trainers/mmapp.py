"""MMA++ (Yang et al., T-PAMI 2026): MMA's adapters trained with alpha-consistency.

The adapters are MMA's (trainers/mmadapter.py) with dropout after the shared projection, PyTorch's
default bias init, no gradient-scale layer, and no text adapter at the embedding level. Each training
step encodes one randomly drawn prompt per class from a bank (LLM descriptions, "cupl", or CLIP's 80
templates, "hc") at the training scale with gradient, then again without gradient at a random smaller
scale ``u * scale`` (u ~ U(0, 1), fresh dropout); the loss is cross-entropy minus a weight times the
mean cosine between the two passes' text features and between their image features. Evaluation runs
at a separate test scale on the mean of the bank's normalised text features. Random draws come from
torch's default generator in the reference's order, so a seed reproduces its draws (docs/METHODS.md).

Only what depends on the scale runs twice: the frozen text prefix below the first adapted block is
computed once for the whole bank, and the image blocks below it once per step.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clip import clip
from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TRAINER_REGISTRY
from dassl.utils.errors import FrameworkError
from datasets.cupl import class_descriptions, load_descriptions, normalise_name

from .kit.backbone import check_input_size, check_precision, effective_precision, freeze_except, require_vit
from .kit.checkpoints import load_learners
from .kit.precision import check_eval_precision, inference_autocast
from .kit.shared_backbone import backbone_for
from .kit.templates import IMAGENET_TEMPLATES
from .kit.text_prefix import autocast_state, tensor_versions, used_context_length
from .kit.training import LearnerTrainer
from .mmadapter import ModalityAdapter

CONFIG_NODE = "TRAINER.MMADAPTERPP"
LEARNER_NAME = "adapter_learner"
PROMPT_BANKS = ("cupl", "hc")
# MMA's class-derived buffers, still named by the reference's loader: ignored if a file has them.
IGNORED_CHECKPOINT_KEYS = ("token_embedding", "tokenized_prompts")
PREFIX_CHUNK = 1024  # prompts per pass when the bank's frozen prefix is computed


class PromptBankError(FrameworkError, ValueError):
    """The prompt bank named by INPUT_PROMPTS cannot be built."""


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.MMADAPTERPP``, defaulting to the released b2n_cupl.yaml (train.py's own defaults
    differ only in PREC fp16, which crashes in the reference)."""
    node = CfgNode()
    node.TEXT_CTX_INIT = "a photo of a"  # in the released yamls, never used (the banks replace it)
    node.PREC = "amp"
    node.ADAPTER_START = 5
    node.ADAPTER_END = 12
    node.ADAPTER_DIM = 32
    node.INPUT_PROMPTS = "cupl"
    node.ADAPTER_TRAIN_SCALE = 0.01
    node.ADAPTER_TRAIN_SCALE_REG = 2.5
    node.ADAPTER_TEST_SCALE = 0.0065
    node.ADAPTER_DROP = 0.1
    # Speed switches, exact (docs/SPEED.md): cut the text to the longest prompt; keep the bank's frozen
    # text prefix (hidden states below the first adapted block) when it fits in the given size.
    node.TEXT_TRUNCATE = True
    node.TEXT_PREFIX_CACHE = True
    node.TEXT_PREFIX_CACHE_MAX_MB = 4096
    node.EVAL_PREC = "fp32"
    cfg.TRAINER.MMADAPTERPP = node


def check_hparams(cfg: CfgNode, text_depth: int, visual_depth: int) -> None:
    """Reject values that cannot build or train, naming the key and the fix."""
    mcfg = cfg.TRAINER.MMADAPTERPP
    start, end, depth = mcfg.ADAPTER_START, mcfg.ADAPTER_END, min(text_depth, visual_depth)
    if not 0 <= start <= end <= depth:
        raise ValueError(
            f"{CONFIG_NODE}.ADAPTER_START / ADAPTER_END are {start} / {end}; they need "
            f"0 <= START <= END <= {depth} (the blocks of backbone {cfg.MODEL.BACKBONE.NAME!r})."
        )
    if mcfg.ADAPTER_DIM < 1:
        raise ValueError(f"{CONFIG_NODE}.ADAPTER_DIM is {mcfg.ADAPTER_DIM}; it must be a positive integer.")
    if not 0 <= mcfg.ADAPTER_DROP < 1:
        raise ValueError(f"{CONFIG_NODE}.ADAPTER_DROP is {mcfg.ADAPTER_DROP}; a dropout rate is in [0, 1).")
    if str(mcfg.INPUT_PROMPTS).lower() not in PROMPT_BANKS:
        raise PromptBankError(
            f"{CONFIG_NODE}.INPUT_PROMPTS is {mcfg.INPUT_PROMPTS!r}; it must be 'cupl' (LLM descriptions) "
            "or 'hc' (CLIP's 80 templates)."
        )


def load_CuPL_templates(dataset_name: str, root: str = "data") -> Dict[str, List[str]]:  # noqa: N802 (reference name)
    """``{class name: [sentences]}`` of a dataset's LLM descriptions under ``root`` (DATASET.ROOT, by
    default the scripts' data/), keys lower-cased with "_" read as a space; read as data, never run."""
    return load_descriptions(dataset_name, root)


def prompt_bank(cfg: CfgNode, classnames: List[str]) -> List[List[str]]:
    """Every class's prompts [n_cls][T], from the bank INPUT_PROMPTS names."""
    if str(cfg.TRAINER.MMADAPTERPP.INPUT_PROMPTS).lower() == "hc":
        names = [normalise_name(name) for name in classnames]
        return [[template.replace("{}", name) for template in IMAGENET_TEMPLATES] for name in names]
    table = load_CuPL_templates(cfg.DATASET.NAME, cfg.DATASET.ROOT)
    return class_descriptions(table, classnames, f"The LLM descriptions of {cfg.DATASET.NAME}")


class SequenceDropout(nn.Dropout):
    """Dropout that can draw its mask for a longer sequence (dim 0) than it is given and keep the
    first positions: a truncated text pass then consumes the generator as the full-length one and
    keeps the same mask. Same arithmetic as torch's dropout: ``x * (bernoulli(1 - p) / (1 - p))``."""

    def forward(self, x: Tensor, draw_length: Optional[int] = None) -> Tensor:
        if not self.training or self.p == 0:
            return x
        shape = (draw_length or x.shape[0], *x.shape[1:])
        keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1 - self.p)
        return x * keep[: x.shape[0]].div_(1 - self.p)


class ConsistencyBranch:
    """One adapted block's side branch, ``scale * up(dropout(shared(down(h))))``, with no
    gradient-scale layer. Built afresh per pass, so the scale is an argument, never shared state."""

    def __init__(self, adapter: ModalityAdapter, shared: nn.Sequential, scale: float,
                 draw_length: Optional[int]) -> None:
        self.adapter, self.shared, self.scale, self.draw_length = adapter, shared, scale, draw_length

    def __call__(self, x: Tensor, h: Tensor) -> Tensor:
        linear, relu, dropout = self.shared
        z = dropout(relu(linear(self.adapter.down(h))), draw_length=self.draw_length)
        return self.scale * self.adapter.up(z)


def _kaiming_weights(modules: nn.ModuleDict) -> None:
    """Kaiming-normal (fan_out, relu) weights; biases keep PyTorch's default init."""
    for module in modules.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


class ConsistencyAdapters(nn.Module):
    """Text, visual and shared adapters at indices ``start..end`` with MMA's key names, built in the
    reference's order (text, visual, shared). Text index 0 is built, as in the reference, but never
    applied."""

    def __init__(self, text_width: int, visual_width: int, start: int, end: int, bottleneck: int,
                 drop: float) -> None:
        super().__init__()
        indices = range(start, end + 1)
        self.text_adapter = nn.ModuleDict({str(i): ModalityAdapter(text_width, bottleneck) for i in indices})
        _kaiming_weights(self.text_adapter)
        self.visual_adapter = nn.ModuleDict({str(i): ModalityAdapter(visual_width, bottleneck) for i in indices})
        _kaiming_weights(self.visual_adapter)
        self.shared_adapter = nn.ModuleDict({
            str(i): nn.Sequential(nn.Linear(bottleneck, bottleneck), nn.ReLU(), SequenceDropout(drop))
            for i in indices
        })
        _kaiming_weights(self.shared_adapter)

    def branches(self, tower: str, scale: float, draw_length: Optional[int] = None) -> Dict[int, ConsistencyBranch]:
        adapters = self.text_adapter if tower == "text" else self.visual_adapter
        return {
            int(key): ConsistencyBranch(adapter, self.shared_adapter[key], scale, draw_length)
            for key, adapter in adapters.items()
            if tower != "text" or int(key) > 0
        }


class BankPrefix:
    """The frozen hidden states of every bank prompt entering text block ``first_block``, computed
    once [L, n_prompts, width] and recomputed only when the device, dtype, autocast setting or a
    frozen tensor below that block changes (so they always equal a full forward's)."""

    def __init__(self, first_block: int) -> None:
        self.first_block = first_block
        self._key: Optional[Tuple] = None
        self._hidden: Optional[Tensor] = None

    def get(self, clip_model: CLIP, tokens: Tensor) -> Tensor:
        blocks = clip_model.transformer.resblocks[: self.first_block - 1]
        frozen = [clip_model.token_embedding.weight, clip_model.positional_embedding, *blocks.parameters()]
        device = clip_model.token_embedding.weight.device
        key = (tuple(tokens.shape), autocast_state(device.type), tensor_versions(frozen))
        if key != self._key:
            self._hidden = None  # free the old copy before building the new one
            chunks = [frozen_text_prefix(clip_model, tokens[i:i + PREFIX_CHUNK].to(device), self.first_block)
                      for i in range(0, tokens.shape[0], PREFIX_CHUNK)]
            self._hidden, self._key = torch.cat(chunks, dim=1), key
        return self._hidden


def frozen_text_prefix(clip_model: CLIP, tokens: Tensor, first_block: int) -> Tensor:
    """Hidden states [L, n, width] entering text block ``first_block`` (no adapter acts below it)."""
    with torch.no_grad():
        x = clip_model.text_transformer_input(tokens)
        return clip_model.transformer(x, last=first_block - 1)


def normalise(features: Tensor) -> Tensor:
    return features / features.norm(dim=-1, keepdim=True)


class CustomCLIP(nn.Module):
    """Frozen CLIP, MMA++'s adapters and the class prompt banks.

    Eval mode: ``forward(image)`` gives the logits at the test scale. Train mode:
    ``forward(image, label)`` gives ``logits`` and the loss terms ``ce_loss``, ``t_loss``, ``i_loss``
    and ``loss`` (their sum, with the config's consistency weight inside the last two).
    """

    def __init__(self, cfg: CfgNode, classnames: List[str], clip_model: CLIP) -> None:
        super().__init__()
        mcfg = cfg.TRAINER.MMADAPTERPP
        visual = require_vit(cfg, clip_model, "MultiModalAdapterPP")
        check_hparams(cfg, clip_model.transformer.layers, visual.transformer.layers)
        self.adapter_learner = ConsistencyAdapters(
            clip_model.transformer.width, visual.transformer.width, mcfg.ADAPTER_START, mcfg.ADAPTER_END,
            mcfg.ADAPTER_DIM, mcfg.ADAPTER_DROP,
        ).to(clip_model.dtype)
        self.clip_model = clip_model
        self.dtype = clip_model.dtype
        freeze_except(self, LEARNER_NAME)
        self.hparams_text = (f"ADAPTER_START {mcfg.ADAPTER_START}, ADAPTER_END {mcfg.ADAPTER_END}, "
                             f"ADAPTER_DIM {mcfg.ADAPTER_DIM}")
        self.train_scale = float(mcfg.ADAPTER_TRAIN_SCALE)
        self.test_scale = float(mcfg.ADAPTER_TEST_SCALE)
        self.consistency_weight = float(mcfg.ADAPTER_TRAIN_SCALE_REG)
        self.image_start = mcfg.ADAPTER_START
        self.text_start = max(mcfg.ADAPTER_START, 1)  # no text adapter acts at the embedding level
        bank = prompt_bank(cfg, classnames)
        self.n_cls, self.n_prompts = len(bank), len(bank[0])
        with torch.device("cpu"):  # token ids are data, kept on the CPU as in the reference
            flat = clip.tokenize([prompt for prompts in bank for prompt in prompts], truncate=True)
        self.tk_prompts = flat.view(self.n_cls, self.n_prompts, -1)
        self.context_length = flat.shape[-1]
        self.text_length = used_context_length(flat) if mcfg.TEXT_TRUNCATE else self.context_length
        self.bank_prefix = self._bank_prefix(mcfg, flat)
        self._eval_text: Optional[Tuple[Tuple, Tensor]] = None

    def _bank_prefix(self, mcfg: CfgNode, flat: Tensor) -> Optional[BankPrefix]:
        width = self.clip_model.transformer.width
        size_mb = self.text_length * flat.shape[0] * width * self.clip_model.dtype.itemsize / 2 ** 20
        if not mcfg.TEXT_PREFIX_CACHE or size_mb > mcfg.TEXT_PREFIX_CACHE_MAX_MB:
            return None
        return BankPrefix(self.text_start)

    def _text_inputs(self, rows: Tensor) -> Tuple[Tensor, Tensor]:
        """Token ids [n, L] (on the device) and frozen hidden states [L, n, width] entering the first
        adapted block for the bank prompts ``rows`` (indices into the flattened bank, CPU)."""
        flat = self.tk_prompts.view(-1, self.context_length)
        tokens = flat[rows]
        length = used_context_length(tokens) if self.text_length < self.context_length else self.context_length
        device = self.clip_model.token_embedding.weight.device
        if self.bank_prefix is None:
            tokens = tokens[:, :length].to(device)
            return tokens, frozen_text_prefix(self.clip_model, tokens, self.text_start)
        hidden = self.bank_prefix.get(self.clip_model, flat[:, : self.text_length])
        return tokens[:, :length].to(device), hidden[:length, rows.to(device)]

    def _adapted_text(self, tokens: Tensor, hidden: Tensor, scale: float) -> Tensor:
        branches = self.adapter_learner.branches("text", scale, draw_length=self.context_length)
        x = self.clip_model.transformer(hidden, branches, first=self.text_start)
        return self.clip_model.text_features_from(x, tokens)

    def _image_prefix(self, image: Tensor) -> Optional[Tensor]:
        """The frozen image hidden states entering the first adapted block (none if it is ln_pre's)."""
        if self.image_start == 0:
            return None
        visual = self.clip_model.visual
        with torch.no_grad():
            h = visual.embed(image.to(self.dtype)).permute(1, 0, 2)
            return visual.transformer(h, last=self.image_start - 1)

    def _adapted_image(self, image: Tensor, prefix: Optional[Tensor], scale: float) -> Tensor:
        branches = self.adapter_learner.branches("image", scale)
        if prefix is None:
            return self.clip_model.encode_image(image.to(self.dtype), branches=branches)
        visual = self.clip_model.visual
        x = visual.transformer(prefix, branches, first=self.image_start)
        return visual.head(x.permute(1, 0, 2))

    def eval_text_features(self) -> Tensor:
        """Mean over the bank of the normalised text features at the test scale, renormalised;
        cached until an adapter tensor, the device, the dtype or the autocast setting changes."""
        params = list(self.adapter_learner.parameters())
        key = (autocast_state(params[0].device.type), tensor_versions(params))
        if self._eval_text is None or self._eval_text[0] != key:
            total = 0
            with torch.no_grad():
                for t in range(self.n_prompts):
                    rows = torch.arange(self.n_cls) * self.n_prompts + t
                    total = total + normalise(self._adapted_text(*self._text_inputs(rows), self.test_scale))
            self._eval_text = (key, normalise(total / self.n_prompts))
        return self._eval_text[1]

    def logits(self, image_features: Tensor, text_features: Tensor) -> Tensor:
        return self.clip_model.logit_scale.exp() * image_features @ text_features.t()

    def forward(self, image: Tensor, label: Optional[Tensor] = None) -> Union[Tensor, Dict[str, Tensor]]:
        if not self.adapter_learner.training:
            image_features = normalise(self._adapted_image(image, self._image_prefix(image), self.test_scale))
            return self.logits(image_features, self.eval_text_features())
        self._eval_text = None
        # The reference's draws, in its order: one prompt per class, the main pass's dropout (text,
        # then image), the consistency scale, the consistency pass's dropout (text, then image).
        template_ids = torch.randint(0, self.n_prompts, (1, self.n_cls))
        rows = torch.arange(self.n_cls) * self.n_prompts + template_ids[0]
        tokens, hidden = self._text_inputs(rows)
        image_prefix = self._image_prefix(image)
        text_features = normalise(self._adapted_text(tokens, hidden, self.train_scale))
        image_features = normalise(self._adapted_image(image, image_prefix, self.train_scale))
        logits = self.logits(image_features, text_features)
        if label is None:
            return logits
        reg_scale = (torch.rand(1) * self.train_scale).item()
        with torch.no_grad():
            text_reg = normalise(self._adapted_text(tokens, hidden, reg_scale))
            image_reg = normalise(self._adapted_image(image, image_prefix, reg_scale))
        weight = self.consistency_weight
        ce_loss = F.cross_entropy(logits, label)
        t_loss = -weight * F.cosine_similarity(text_features, text_reg, dim=-1).mean()
        i_loss = -weight * F.cosine_similarity(image_features, image_reg, dim=-1).mean()
        return {"logits": logits, "ce_loss": ce_loss, "t_loss": t_loss, "i_loss": i_loss,
                "loss": ce_loss + t_loss + i_loss}


@TRAINER_REGISTRY.register()
class MultiModalAdapterPP(LearnerTrainer):
    """Trains the adapters with cross-entropy plus the two consistency terms; only
    ``adapter_learner`` is optimised and saved (adapter weights only, the reference's key names)."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.MMADAPTERPP.PREC, f"{CONFIG_NODE}.PREC")
        check_eval_precision(cfg.TRAINER.MMADAPTERPP.EVAL_PREC, f"{CONFIG_NODE}.EVAL_PREC")

    def build_model(self) -> None:
        cfg = self.cfg
        self.precision = effective_precision(cfg.TRAINER.MMADAPTERPP.PREC, self.device)
        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME}, precision: {self.precision})")
        clip_model = backbone_for(cfg, self.precision)
        check_input_size(cfg, clip_model)
        self.model = CustomCLIP(cfg, self.dm.dataset.classnames, clip_model)
        learner = self.model.adapter_learner
        print(f"Prompt bank: {cfg.TRAINER.MMADAPTERPP.INPUT_PROMPTS}, {self.model.n_prompts} prompts per class")
        print(f"Trainable parameters: {sum(p.numel() for p in learner.parameters()):,}")
        self.register_learner(LEARNER_NAME, learner)

    def compute_loss(self, image: Tensor, label: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        terms = self.model(image, label)
        return terms["loss"], terms["logits"]

    def model_inference(self, input: Tensor) -> Tensor:
        """The logits at the test scale, in fp32; under autocast when EVAL_PREC is bf16 or fp16."""
        with inference_autocast(self.cfg.TRAINER.MMADAPTERPP.EVAL_PREC, self.device):
            return self.model(input).float()

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/adapter_learner/model.pth.tar-<epoch>``, ours or the reference's."""
        load_learners(self, directory, epoch, IGNORED_CHECKPOINT_KEYS,
                      f"{CONFIG_NODE} {self.model.hparams_text}")
