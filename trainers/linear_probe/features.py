"""The frozen image features the probe is fitted on, extracted batch by batch and kept per split, so
that a fit stopped on request resumes with the batches it already extracted."""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Tuple

import numpy as np
import torch
from torch import Tensor

from clip.model import CLIP


class ExtractedFeatures:
    """Per split, the image-encoder outputs (float64, not normalised) and labels extracted so far, in order."""

    def __init__(self) -> None:
        self._parts: Dict[str, Tuple[List[Tensor], List[Tensor]]] = {}

    def count(self, split: str) -> int:
        """How many images of ``split`` are done."""
        return sum(len(labels) for labels in self._parts.get(split, ([], []))[1])

    @torch.no_grad()
    def extend(self, split: str, clip_model: CLIP, loader: Iterable, device: torch.device,
               after_batch: Callable[[], None]) -> None:
        """Encode the images of ``loader`` (the rest of ``split``), calling ``after_batch`` after each batch."""
        features, labels = self._parts.setdefault(split, ([], []))
        for batch in loader:
            features.append(clip_model.encode_image(batch["img"].to(device)).double().cpu())
            labels.append(batch["label"])
            after_batch()

    def arrays(self, split: str) -> Tuple[np.ndarray, np.ndarray]:
        features, labels = self._parts[split]
        return torch.cat(features).numpy(), torch.cat(labels).numpy()

    def state_dict(self) -> Dict[str, Dict[str, Tensor]]:
        return {
            split: {"features": torch.cat(features), "labels": torch.cat(labels)}
            for split, (features, labels) in self._parts.items()
            if labels
        }

    def load_state_dict(self, state: Dict[str, Dict[str, Tensor]]) -> None:
        self._parts = {split: ([entry["features"]], [entry["labels"]]) for split, entry in state.items()}
