"""Training a CLIP-based method: one optimisation step in its precision, and the CoOp-family trainer.

fp16 and fp32 go through the engine's ``model_backward_and_update`` (which also stops on a NaN loss);
amp (CUDA only, see ``backbone.effective_precision``) runs the forward under autocast and scales
the loss with a GradScaler, as the CoOp-family trainers do. The scaler skips a step whose gradients
overflow (normal in fp16), but a NaN or infinite loss is divergence and stops the run there too.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clip.model import CLIP
from dassl.config import CfgNode
from dassl.engine import TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import load_pretrained_weights

from .backbone import load_backbone


def make_grad_scaler(precision: str) -> Optional[torch.amp.GradScaler]:
    """A CUDA GradScaler for amp, None otherwise (``torch.amp.GradScaler`` is torch >= 2.3; before it
    the same class lived in ``torch.cuda.amp``)."""
    if precision != "amp":
        return None
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


def optimisation_step(trainer, compute: Callable[[], Tuple[Tensor, Optional[Tensor]]]) -> Tuple[Tensor, Optional[Tensor]]:
    """Run ``compute() -> (loss, output)`` and update the trainer's registered models with the loss."""
    scaler = trainer.scaler
    if scaler is None:
        loss, output = compute()
        trainer.model_backward_and_update(loss)
        return loss, output
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        loss, output = compute()
    trainer.detect_anomaly(loss)
    trainer.model_zero_grad()
    scaler.scale(loss).backward()
    for name in trainer.get_model_names():
        optimizer = trainer.get_optimizer(name)
        if optimizer is not None:
            scaler.step(optimizer)
    scaler.update()
    return loss, output


class LearnerTrainer(TrainerX):
    """What CoOp, CoCoOp and CLIP-Adapter share: a frozen CLIP wrapped by the method's ``CustomCLIP``
    (``self.model``) whose one learned part is optimised with cross-entropy, stepping the learning
    rate once per epoch, on the last batch."""

    def build_custom_clip(self, prec: str, custom_clip: Callable[[CfgNode, List[str], CLIP], nn.Module]) -> nn.Module:
        """Load the backbone for ``prec`` (setting ``self.precision``) and wrap it with ``custom_clip``."""
        self.precision, clip_model = load_backbone(self.cfg, prec, self.device)
        print("Building custom CLIP")
        return custom_clip(self.cfg, self.dm.dataset.classnames, clip_model)

    def register_learner(self, name: str, learner: nn.Module) -> None:
        """Start ``learner`` from MODEL.INIT_WEIGHTS if set, move ``self.model`` to the device, and
        register ``learner`` under ``name`` with its optimizer, scheduler and (amp) grad scaler."""
        if self.cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(learner, self.cfg.MODEL.INIT_WEIGHTS)
        self.model.to(self.device)
        self.optim = build_optimizer(learner, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model(name, learner, self.optim, self.sched)
        self.scaler = make_grad_scaler(self.precision)

    def compute_loss(self, image: Tensor, label: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """``(loss, logits)`` of a training batch; a method whose model returns its loss gives no logits."""
        output = self.model(image)
        return F.cross_entropy(output, label), output

    def forward_backward(self, batch: Dict[str, Tensor]) -> Dict[str, float]:
        image, label = self.parse_batch_train(batch)
        loss, output = optimisation_step(self, lambda: self.compute_loss(image, label))
        summary = {"loss": loss.item()}
        if output is not None:
            summary["acc"] = compute_accuracy(output, label)[0].item()
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    def parse_batch_train(self, batch: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        return batch["img"].to(self.device), batch["label"].to(self.device)
