"""Linear-probe CLIP (CoOp's ``lpclip``): logistic regression on frozen image features.

The image encoder's output (not normalised) is computed with the test transform for the few-shot
train and validation images; C is searched on the validation features (``probe_search``); the kept
classifier is stored in an ``nn.Linear`` (``linear_probe``, float64) so that the engine's test,
checkpoints and ``--eval-only`` work as for any trainer. The fit happens once, whatever
OPTIM.MAX_EPOCH says. Unlike ``lpclip``, which draws its own few-shot samples with numpy, the probe sees
the framework's few-shot split, the same images as every other method. On SIGTERM / SIGINT the fit
stops after the current feature batch or C-search fit, keeping the finished ones in ``resume.pth``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from dassl.config import CfgNode
from dassl.data import build_data_loader
from dassl.data.datasets.base_dataset import Datum
from dassl.data.transforms import build_transform
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.utils.errors import ConfigValueError

from ..kit.backbone import check_precision, load_backbone
from ..kit.checkpoints import load_learners
from .features import ExtractedFeatures
from .probe_search import COARSE_GRID, RegularisationSearch

CONFIG_NODE = "TRAINER.LINEAR_PROBE"
LEARNER_NAME = "linear_probe"


def extend_cfg(cfg: CfgNode) -> None:
    """Add ``TRAINER.LINEAR_PROBE`` with lpclip's values (fp16 features, 8 bisection steps)."""
    node = CfgNode()
    node.PREC = "fp16"
    node.C_GRID = COARSE_GRID
    node.NUM_STEP = 8
    node.MAX_ITER = 1000
    cfg.TRAINER.LINEAR_PROBE = node


def coarse_grid(values) -> List[float]:
    """``C_GRID`` as floats. YAML reads ``1e6`` (no dot) as a string, so strings are parsed here, and a
    value that is not a positive number is an error naming it."""
    grid = []
    for value in values:
        try:
            c = float(value)
        except (TypeError, ValueError):
            c = float("nan")
        if not c > 0:
            raise ConfigValueError(f"{CONFIG_NODE}.C_GRID holds {value!r}; every entry must be a positive number such as 1.0e+6.")
        grid.append(c)
    return grid


def probe_layer(classifier, num_classes: int, feature_dim: int) -> nn.Linear:
    """An ``nn.Linear`` whose argmax equals ``classifier.predict`` (classes the probe never saw get a
    bias of -inf; a two-class probe's single score becomes the second class's logit)."""
    weight = torch.zeros(num_classes, feature_dim, dtype=torch.float64)
    bias = torch.full((num_classes,), float("-inf"), dtype=torch.float64)
    classes = torch.as_tensor(classifier.classes_, dtype=torch.long)
    coef = torch.as_tensor(classifier.coef_, dtype=torch.float64)
    intercept = torch.as_tensor(classifier.intercept_, dtype=torch.float64)
    if len(classes) == 2:
        weight[classes[1]], bias[classes[1]] = coef[0], intercept[0]
        bias[classes[0]] = 0.0
    else:
        weight[classes], bias[classes] = coef, intercept
    layer = nn.Linear(feature_dim, num_classes, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


@TRAINER_REGISTRY.register()
class LinearProbe(TrainerX):
    """Fits the probe in one pass (feature extraction, C search) and tests it like any trainer."""

    def check_cfg(self, cfg: CfgNode) -> None:
        check_precision(cfg.TRAINER.LINEAR_PROBE.PREC, f"{CONFIG_NODE}.PREC")

    def build_model(self) -> None:
        _, clip_model = load_backbone(self.cfg, self.cfg.TRAINER.LINEAR_PROBE.PREC, self.device)
        self.clip_model = clip_model.to(self.device).eval()
        feature_dim = self.clip_model.visual.output_dim
        self.probe = nn.Linear(feature_dim, self.num_classes, dtype=torch.float64).to(self.device)
        self.register_model(LEARNER_NAME, self.probe, None, None)
        pcfg = self.cfg.TRAINER.LINEAR_PROBE
        self.features = ExtractedFeatures()
        self.search = RegularisationSearch(coarse_grid(pcfg.C_GRID), pcfg.NUM_STEP, pcfg.MAX_ITER)
        if self.max_epoch != 1:
            print(f"LinearProbe fits once; OPTIM.MAX_EPOCH {self.max_epoch} is read as 1")
            self.max_epoch = 1

    def validation_split(self) -> List[Datum]:
        """The few-shot validation images: min(K, 4) per class, as lpclip's validation shots."""
        val = self.dm.dataset.val
        if not val:
            raise ConfigValueError(
                f"LinearProbe picks C on the validation split, but {self.cfg.DATASET.NAME} has none here. "
                "Use a dataset with a validation split (the ImageNet variants are test-only)."
            )
        shots = self.cfg.DATASET.NUM_SHOTS
        per_class = np.bincount([item.label for item in val])
        if shots >= 1 and per_class.max() > min(shots, 4):
            val = self.dm.dataset.generate_fewshot_dataset(val, num_shots=min(shots, 4))
        return val

    def feature_loader(self, data: List[Datum], split: str):
        cfg = self.cfg
        return build_data_loader(
            cfg, data_source=data, batch_size=cfg.DATALOADER.TEST.BATCH_SIZE,
            tfm=build_transform(cfg, is_train=False), is_train=False, split_name=split,
        )

    def run_epoch(self) -> None:
        self.start_epoch_rng()  # on resuming: the RNG states of the start, from which the val shots are drawn again
        train_x, train_y = self.split_features("train", self.dm.dataset.train_x)
        val_x, val_y = self.split_features("val", self.validation_split())
        print(f"Features: train {train_x.shape}, val {val_x.shape}")
        if self.search.scores:
            print(f"Resuming the C search: {len(self.search.scores)} of {self.search.total_fits} fits were done before the stop")
        result = self.search.run(train_x, train_y, val_x, val_y, after_fit=self._after_fit)
        print(f"Coarse search: best C {result.coarse_c:g}")
        for step, (left_c, left_acc, right_c, right_acc) in enumerate(result.trace, start=1):
            print(f"step [{step}/{len(result.trace)}] C {left_c:.4g}: val {left_acc:.2f}% | C {right_c:.4g}: val {right_acc:.2f}%")
        print(f"Chosen C {result.c:.6g} (val accuracy {result.val_accuracy:.2f}%)")
        layer = probe_layer(result.classifier, self.num_classes, train_x.shape[1])
        self.probe.load_state_dict(layer.state_dict())
        self.write_scalar("train/val_acc", result.val_accuracy, 0)
        self.write_scalar("train/C", result.c, 0)

    def feature_batches(self, images: int) -> int:
        return -(-images // self.cfg.DATALOADER.TEST.BATCH_SIZE)

    def split_features(self, split: str, data: List[Datum]) -> Tuple[np.ndarray, np.ndarray]:
        """Features and labels of ``data``; the images extracted before a stop are not encoded again."""
        done = self.features.count(split)
        if done:
            print(f"Resuming the {split} features: {done:,} of {len(data):,} images were extracted before the stop")
        if done < len(data):
            total = self.feature_batches(len(data))

            def after_batch() -> None:
                finished = self.feature_batches(self.features.count(split))
                self.stop_if_requested(f"while fitting the probe, after {split} feature batch {finished} of {total}",
                                       batches_done=self.steps_done())

            self.features.extend(split, self.clip_model, self.feature_loader(data[done:], split), self.device, after_batch)
        return self.features.arrays(split)

    def _after_fit(self, search: RegularisationSearch) -> None:
        self.stop_if_requested(f"while fitting the probe, after C-search fit {len(search.scores)} of {search.total_fits}",
                               batches_done=self.steps_done())

    def steps_done(self) -> int:
        """Finished units of the fit (feature batches, then C-search fits): where a stopped fit resumes."""
        batches = sum(self.feature_batches(self.features.count(split)) for split in ("train", "val"))
        return batches + len(self.search.scores)

    def extra_training_state(self) -> Dict[str, Any]:
        return {"features": self.features.state_dict(), "search": self.search.state_dict()}

    def load_extra_training_state(self, state: Dict[str, Any]) -> None:
        if state:
            self.features.load_state_dict(state["features"])
            self.search.load_state_dict(state["search"])

    @torch.no_grad()
    def model_inference(self, input: Tensor) -> Tensor:
        return self.probe(self.clip_model.encode_image(input).double())

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load ``<directory>/linear_probe/model.pth.tar-<epoch>``."""
        load_learners(self, directory, epoch, (), f"{self.num_classes} classes, backbone {self.cfg.MODEL.BACKBONE.NAME!r}")
