"""The adapter modules of MMA (Yang et al., CVPR 2024) and the side branches they plug into CLIP.

Kept apart from the trainer so that the pieces that decide MMA's numbers (module layout, init, the
gradient-scale layer, the branch computation) can be read and tested without CLIP or the engine.
The parameter names reproduce the reference checkpoints exactly:
``text_adapter.<i>.down.0.*``, ``text_adapter.<i>.up.*``, the same for ``visual_adapter`` and
``shared_adapter.<i>.0.*``.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import Tensor, nn


class _GradientScale(torch.autograd.Function):
    """Identity going forward; multiplies the incoming gradient by a constant going backward."""

    @staticmethod
    def forward(ctx, x: Tensor, factor: float) -> Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        return grad_output * ctx.factor, None


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    """The reference's gradient-scale layer: ``x`` unchanged, its gradient times ``factor``."""
    return _GradientScale.apply(x, factor)


class ModalityAdapter(nn.Module):
    """Modality-specific down- and up-projection around the shared middle of one MMA adapter."""

    def __init__(self, width: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Linear(width, bottleneck), nn.ReLU())
        self.up = nn.Linear(bottleneck, width)


def _shared_projection(bottleneck: int) -> nn.Sequential:
    """The cross-modal bottleneck-to-bottleneck projection (one per layer index, used by both towers)."""
    return nn.Sequential(nn.Linear(bottleneck, bottleneck), nn.ReLU())


def _reinitialise(modules: nn.ModuleDict) -> None:
    """Kaiming-normal (fan_out, relu) weights and zero biases for every Linear, in module order."""
    for module in modules.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)


class AdapterBranch:
    """One adapted block's side branch, called by CLIP's seam as ``branch(x, h)`` with ``h = ln_1(x)``.

    Computes ``scale * up(shared(down(h)))``. Above index 0 the gradient-scale layers wrap it
    (``1/scale`` on the way out, ``scale`` on the way in), so the adapter parameters receive their
    true gradient divided by ``scale`` while the gradient flowing back into CLIP stays exact.
    Scaling ``h`` instead of ``x`` is the same thing: the LayerNorm backward is linear in the gradient.
    Built afresh at each forward from the learner's own modules, so no closure outlives a replica.
    """

    def __init__(
        self,
        adapter: ModalityAdapter,
        shared: Optional[nn.Module],
        scale: float,
        gradient_scaled: bool,
    ) -> None:
        self.adapter = adapter
        self.shared = shared
        self.scale = scale
        self.gradient_scaled = gradient_scaled

    def __call__(self, x: Tensor, h: Tensor) -> Tensor:
        if self.gradient_scaled:
            h = scale_gradient(h, self.scale)
        z = self.adapter.down(h)
        if self.shared is not None:
            z = self.shared(z)
        out = self.scale * self.adapter.up(z)
        if self.gradient_scaled:
            out = scale_gradient(out, 1.0 / self.scale)
        return out


class MultiModalAdapters(nn.Module):
    """Text, visual and (optionally) shared adapters at layer indices ``start..end`` (inclusive).

    Index 0 is the text token-embedding / image ln_pre level, index k >= 1 the k-th residual block
    (1-based). Construction order follows the reference so that a seeded run draws the same initial
    weights: every text adapter is built and re-initialised, then the visual ones, then the shared ones.
    """

    def __init__(
        self,
        text_width: int,
        visual_width: int,
        start: int,
        end: int,
        bottleneck: int,
        scale: float,
        shared: bool = True,
    ) -> None:
        super().__init__()
        indices = range(start, end + 1)
        self.scale = scale
        self.text_adapter = nn.ModuleDict({str(i): ModalityAdapter(text_width, bottleneck) for i in indices})
        _reinitialise(self.text_adapter)
        self.visual_adapter = nn.ModuleDict({str(i): ModalityAdapter(visual_width, bottleneck) for i in indices})
        _reinitialise(self.visual_adapter)
        if shared:
            self.shared_adapter = nn.ModuleDict({str(i): _shared_projection(bottleneck) for i in indices})
            _reinitialise(self.shared_adapter)
        else:
            self.shared_adapter = None

    def _branches(self, adapters: nn.ModuleDict) -> Dict[int, AdapterBranch]:
        return {
            int(key): AdapterBranch(
                adapter,
                self.shared_adapter[key] if self.shared_adapter is not None else None,
                self.scale,
                gradient_scaled=int(key) > 0,
            )
            for key, adapter in adapters.items()
        }

    def text_branches(self) -> Dict[int, AdapterBranch]:
        """Side branches for ``CLIP.encode_text(..., branches=...)``."""
        return self._branches(self.text_adapter)

    def visual_branches(self) -> Dict[int, AdapterBranch]:
        """Side branches for ``CLIP.encode_image(..., branches=...)``."""
        return self._branches(self.visual_adapter)
