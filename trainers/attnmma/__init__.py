"""The attention Multi-Modal Adapter of Seputis et al. (arXiv 2409.02958) as a trainer.

CLIP stays frozen. For every image, one shared attention layer runs over the final embeddings of all
candidate class prompts plus the image (``AttentionAdapter``), and the image is scored against every
class in that one pass. Only the adapter trains (and, with ``PROMPT learned``, a prompt context).

When the images reaching the encoder never change (no augmentation, no image noise: the reference's
protocol), every split is encoded once and training runs on the stored embeddings; otherwise images
are encoded on the fly. ``PATIENCE`` adds the reference's early stopping on the validation split.
See docs/ATTNMMA.md for the settings, the two protocols and the studies.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from dassl.config import CfgNode
from dassl.data import build_data_loader
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import load_pretrained_weights
from dassl.utils.errors import ConfigValueError

from .adapter import BLOCKS, DOWNS, MASKS, UPS, AttentionAdapter
from .text import PROMPTS, LearnedContext, fixed_text_features, prompt_templates
from ..kit.backbone import backbone_label, load_backbone
from ..kit.feature_cache import (
    EmbeddingStore,
    embedding_loader,
    encode_split,
    test_images_are_fixed,
    train_images_are_fixed,
)
from ..kit.checkpoints import load_learners
from ..kit.text_cache import TextFeatureCache

__all__ = ["AttentionAdapter", "AttentionMultiModalAdapter", "extend_cfg"]

NODE = "TRAINER.ATTNMMA"
ADAPTER_NAME = "adapter"
CONTEXT_NAME = "prompt_learner"
DERIVED_BUFFERS = ("token_prefix", "token_suffix")
FEATURE_CACHE_MODES = ("auto", "off")
ENCODER_PRECISIONS = ("fp16", "fp32")


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.ATTNMMA`` with the reference's choices as defaults."""
    node = CfgNode()
    node.MASK = "cross_only"  # cross_only | additive_float_reference | none
    node.ADAPT_TEXT = True
    node.LAMBDA = 0.2
    node.HEADS = 4
    node.WIDTH = 0  # attention width; 0 means C/4 (128 for ViT-B/16)
    node.BOTTLENECK = 32
    node.DOWN = "lowrank32_linear"  # lowrank32_linear | linear | mlp
    node.UP = "lowrank32_gelu"  # lowrank32_gelu | linear | mlp
    node.BLOCK = "mha"  # mha | transformer
    node.PROMPT = "single"  # single | ensemble | learned
    node.CTX_INIT = "a photo of a"  # PROMPT learned: starting words ("" = N_CTX random vectors)
    node.N_CTX = 4
    node.PREC = "fp16"  # precision of the frozen encoders (fp32 on CPU); the adapter trains in fp32
    node.PATIENCE = 0  # early stopping on the val split after this many epochs without gain; 0 = off
    node.FEATURE_CACHE = "auto"  # auto: train on stored embeddings whenever images are fixed | off
    node.FEATURE_CACHE_DIR = ""  # keep stored embeddings on disk here ("" = memory only)
    cfg.TRAINER.ATTNMMA = node


def attnmma_settings(cfg: CfgNode) -> str:
    """The values that decide the adapter's shapes, for error messages."""
    a = cfg.TRAINER.ATTNMMA
    return (
        f"{NODE} WIDTH {a.WIDTH}, HEADS {a.HEADS}, BOTTLENECK {a.BOTTLENECK}, DOWN {a.DOWN}, UP {a.UP}, "
        f"BLOCK {a.BLOCK}, PROMPT {a.PROMPT}"
    )


def check_attnmma_cfg(cfg: CfgNode) -> None:
    """Name the key, the value and the choices for every unsupported setting."""
    a = cfg.TRAINER.ATTNMMA
    choices = {
        "MASK": MASKS, "DOWN": DOWNS, "UP": UPS, "BLOCK": BLOCKS, "PROMPT": PROMPTS,
        "PREC": ENCODER_PRECISIONS, "FEATURE_CACHE": FEATURE_CACHE_MODES,
    }
    for key, allowed in choices.items():
        value = getattr(a, key)
        if value not in allowed:
            raise ConfigValueError(f"{NODE}.{key} is {value!r}; use one of {', '.join(allowed)}.")
    if a.PATIENCE < 0:
        raise ConfigValueError(f"{NODE}.PATIENCE is {a.PATIENCE}; use 0 (train every epoch) or a positive count.")
    if a.PATIENCE > 0 and cfg.TEST.FINAL_MODEL != "best_val":
        raise ConfigValueError(
            f"{NODE}.PATIENCE {a.PATIENCE} stops on the validation accuracy, which the engine only tracks "
            f"with TEST.FINAL_MODEL best_val (it is {cfg.TEST.FINAL_MODEL!r}). Set TEST.FINAL_MODEL best_val."
        )


def build_adapter(cfg: CfgNode, embed_dim: int, scale: float) -> AttentionAdapter:
    a = cfg.TRAINER.ATTNMMA
    return AttentionAdapter(
        embed_dim=embed_dim, mask=a.MASK, adapt_text=a.ADAPT_TEXT, lam=a.LAMBDA, heads=a.HEADS,
        width=a.WIDTH or None, bottleneck=a.BOTTLENECK, down=a.DOWN, up=a.UP, block=a.BLOCK, scale=scale,
    )


@TRAINER_REGISTRY.register()
class AttentionMultiModalAdapter(TrainerX):
    """Trains ``AttentionAdapter`` (registered as "adapter") with cross-entropy over the training classes."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_attnmma_cfg(cfg)

    def build_model(self) -> None:
        cfg = self.cfg
        a = cfg.TRAINER.ATTNMMA
        classnames = self.dm.dataset.classnames
        self.precision, clip_model = load_backbone(cfg, a.PREC, self.device)
        clip_model.requires_grad_(False)
        self.clip_model = clip_model.to(self.device).eval()
        embed_dim = clip_model.text_projection.shape[1]
        scale = clip_model.logit_scale.exp().item()

        self.adapter = build_adapter(cfg, embed_dim, scale).to(self.device)
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(self.adapter, cfg.MODEL.INIT_WEIGHTS)
        n_params = sum(p.numel() for p in self.adapter.parameters())
        print(f"Attention adapter: mask {a.MASK}, adapt text {a.ADAPT_TEXT}, {n_params:,} trainable parameters")
        self._register(ADAPTER_NAME, self.adapter)

        self.context: Optional[LearnedContext] = None
        if a.PROMPT == "learned":
            self.context = LearnedContext(classnames, clip_model, a.CTX_INIT, a.N_CTX).to(self.device)
            self._register(CONTEXT_NAME, self.context)
            self._eval_text = TextFeatureCache()
        else:
            templates = prompt_templates(a.PROMPT, cfg.DATASET.NAME)
            print(f"Prompt templates ({a.PROMPT}): {templates}")
            self.fixed_text = fixed_text_features(self.clip_model, classnames, templates)
        self._use_stored_embeddings()

    def _register(self, name: str, module: torch.nn.Module) -> None:
        optim = build_optimizer(module, self.cfg.OPTIM)
        sched = build_lr_scheduler(optim, self.cfg.OPTIM)
        self.register_model(name, module, optim, sched)

    def encode_images(self, images: Tensor) -> Tensor:
        """Unit-norm final image embeddings (float32) from the frozen image encoder."""
        with torch.no_grad():
            features = self.clip_model.encode_image(images.to(self.clip_model.dtype)).float()
        return F.normalize(features, dim=-1)

    def text_features(self) -> Tensor:
        """The class prompts' embeddings [N, C]; with a learned context they carry its gradient in training."""
        if self.context is None:
            return self.fixed_text
        return self._eval_text.get(self.context, lambda: self.context(self.clip_model))

    def _use_stored_embeddings(self) -> None:
        """Swap the image loaders for loaders of stored embeddings wherever the images are fixed."""
        cfg = self.cfg
        if cfg.TRAINER.ATTNMMA.FEATURE_CACHE == "off":
            print("Images are encoded on the fly (FEATURE_CACHE off)")
            return
        store = EmbeddingStore(cfg.TRAINER.ATTNMMA.FEATURE_CACHE_DIR) if cfg.TRAINER.ATTNMMA.FEATURE_CACHE_DIR else None
        dataset = self.dm.dataset
        if train_images_are_fixed(cfg):
            train_tfm = self.train_loader_x.dataset.transform
            self.train_loader_x = self._embedding_loader(
                "train_x", dataset.train_x, train_tfm, cfg.DATALOADER.TRAIN_X.BATCH_SIZE, True, store
            )
        else:
            print("Training images change between epochs (augmentation or noise): encoding them on the fly")
        if not test_images_are_fixed(cfg):
            print("Evaluation images are noisy (INPUT.IMAGE_NOISE_AT_TEST): encoding them on the fly")
            return
        test_batch = cfg.DATALOADER.TEST.BATCH_SIZE
        self.test_loader = self._embedding_loader(
            "test", dataset.test, self.test_loader.dataset.transform, test_batch, False, store
        )
        if self.val_loader is None or cfg.TEST.FINAL_MODEL != "best_val":
            return  # the engine only evaluates val for best_val
        if dataset.val is dataset.test:  # ImageNet under CoOp's sampler: its val set is the test set
            self.val_loader = self.test_loader
            return
        self.val_loader = self._embedding_loader(
            "val", dataset.val, self.val_loader.dataset.transform, test_batch, False, store
        )

    def _embedding_loader(self, split: str, items, transform, batch_size: int, is_train: bool,
                          store: Optional[EmbeddingStore]):
        cfg = self.cfg
        labels = torch.tensor([item.label for item in items], dtype=torch.long)
        key = EmbeddingStore.key(backbone_label(cfg), self.precision, transform, items) if store else ""
        features = store.load(key, len(items)) if store else None
        if features is None:
            loader = build_data_loader(
                cfg, sampler_type="SequentialSampler", data_source=items, batch_size=cfg.DATALOADER.TEST.BATCH_SIZE,
                tfm=transform, is_train=False, split_name=split,
            )
            features, encoded_labels = encode_split(loader, self.encode_images, self.device, f"encode {split}")
            if not torch.equal(encoded_labels, labels):
                raise RuntimeError(f"encoding the {split} split returned its images out of order")
            if store:
                store.save(key, features)
        print(f"Training on stored embeddings: {split} ({len(items):,} images) encoded once" if is_train
              else f"Evaluating on stored embeddings: {split} ({len(items):,} images) encoded once")
        return embedding_loader(features, labels, batch_size, is_train)

    def _features_of(self, batch: Dict[str, Tensor]) -> Tensor:
        if "feature" in batch:
            return batch["feature"].to(self.device)
        return self.encode_images(batch["img"].to(self.device))

    def parse_batch_train(self, batch: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        return self._features_of(batch), batch["label"].to(self.device)

    def parse_batch_test(self, batch: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        return self._features_of(batch), batch["label"].to(self.device)

    def model_inference(self, image_features: Tensor) -> Tensor:
        return self.adapter(self.text_features(), image_features)

    def forward_backward(self, batch: Dict[str, Tensor]) -> Dict[str, float]:
        image_features, label = self.parse_batch_train(batch)
        output = self.adapter(self.text_features(), image_features)
        loss = F.cross_entropy(output, label)
        self.model_backward_and_update(loss)
        summary = {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    def stop_early(self) -> Optional[str]:
        """PATIENCE: stop once the val accuracy has not improved for that many epochs."""
        patience = self.cfg.TRAINER.ATTNMMA.PATIENCE
        if patience <= 0 or self.epoch + 1 - self.best_epoch < patience:
            return None
        return (
            f"the val accuracy has not improved for {patience} epochs "
            f"(best {self.best_result:.2f} after epoch {self.best_epoch})"
        )

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load the adapter (and learned context); under TEST.FINAL_MODEL best_val the best checkpoint is
        the final model, so it is the one loaded whatever ``epoch`` says."""
        if directory and epoch is not None and self.cfg.TEST.FINAL_MODEL == "best_val":
            print(f"TEST.FINAL_MODEL is best_val: loading model-best.pth.tar instead of epoch {epoch}")
            epoch = None
        load_learners(self, directory, epoch, DERIVED_BUFFERS, attnmma_settings(self.cfg))
