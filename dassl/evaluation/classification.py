"""The Classification evaluator: accuracy, error, macro-F1 and optional per-class results."""
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Any, Dict, List, Optional, Tuple

import torch

from dassl.utils import save_torch_atomically

from .build import EVALUATOR_REGISTRY


def macro_f1_score(y_true: List[int], y_pred: List[int]) -> float:
    """Mean over the labels present in ``y_true`` of 2TP / (2TP + FP + FN), as a fraction.

    Equals sklearn's ``f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true))``.
    """
    labels = sorted(set(y_true))
    if not labels:
        return 0.0
    scores = []
    for label in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == label and p == label)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != label and p == label)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == label and p != label)
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / denominator if denominator else 0.0)
    return sum(scores) / len(scores)


def row_normalised_confusion_matrix(y_true: List[int], y_pred: List[int]) -> torch.Tensor:
    """Confusion matrix over the sorted labels seen in either list; each true-label row sums to 1."""
    labels = sorted(set(y_true) | set(y_pred))
    index = {label: i for i, label in enumerate(labels)}
    cmat = torch.zeros(len(labels), len(labels), dtype=torch.float64)
    for t, p in zip(y_true, y_pred):
        cmat[index[t], index[p]] += 1
    return cmat / cmat.sum(1, keepdim=True).clamp(min=1)


class EvaluatorBase:
    """Accumulates model outputs with ``process`` and reports with ``evaluate``."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def reset(self) -> None:
        raise NotImplementedError

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        raise NotImplementedError

    def evaluate(self) -> Dict[str, float]:
        raise NotImplementedError

    def predictions(self) -> Optional[Tuple[List[int], List[int]]]:
        """(targets, predicted labels) per image since the last reset, when the evaluator keeps them."""
        return None


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Top-1 classification results, printed as Dassl prints them (one decimal)."""

    def __init__(self, cfg: Any, lab2cname: Optional[Dict[int, str]] = None, **kwargs: Any) -> None:
        super().__init__(cfg)
        self._lab2cname = lab2cname
        self._per_class_res: Optional[Dict[int, List[bool]]] = None
        if cfg.TEST.PER_CLASS_RESULT:
            if lab2cname is None:
                raise ValueError("TEST.PER_CLASS_RESULT needs the class names: pass lab2cname to the evaluator")
        self.reset()

    def reset(self) -> None:
        self._correct = 0
        self._total = 0
        self._y_true: List[int] = []
        self._y_pred: List[int] = []
        if self.cfg.TEST.PER_CLASS_RESULT:
            self._per_class_res = defaultdict(list)

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        """``mo``: [batch, num_classes] scores; ``gt``: [batch] labels."""
        pred = mo.max(1)[1]
        matches = pred.eq(gt).cpu()
        self._correct += int(matches.sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.cpu().tolist())
        self._y_pred.extend(pred.cpu().tolist())
        if self._per_class_res is not None:
            for label, match in zip(gt.cpu().tolist(), matches.tolist()):
                self._per_class_res[label].append(bool(match))

    def predictions(self) -> Tuple[List[int], List[int]]:
        return list(self._y_true), list(self._y_pred)

    def evaluate(self) -> "OrderedDict[str, float]":
        if self._total == 0:
            raise ZeroDivisionError("Nothing to evaluate: the loader gave no images")
        results: "OrderedDict[str, float]" = OrderedDict()
        acc = 100.0 * self._correct / self._total
        err = 100.0 - acc
        macro_f1 = 100.0 * macro_f1_score(self._y_true, self._y_pred)
        results["accuracy"] = acc
        results["error_rate"] = err
        results["macro_f1"] = macro_f1
        print(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%"
        )
        if self._per_class_res is not None:
            results["perclass_accuracy"] = self._report_per_class()
        if self.cfg.TEST.COMPUTE_CMAT:
            cmat = row_normalised_confusion_matrix(self._y_true, self._y_pred)
            save_path = osp.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            save_torch_atomically(cmat, save_path)
            print(f"Confusion matrix is saved to {save_path}")
        return results

    def _report_per_class(self) -> float:
        print("=> per-class result")
        accs = []
        for label in sorted(self._per_class_res):
            res = self._per_class_res[label]
            correct, total = sum(res), len(res)
            acc = 100.0 * correct / total
            accs.append(acc)
            classname = self._lab2cname[label]
            print(f"* class: {label} ({classname})\ttotal: {total:,}\tcorrect: {correct:,}\tacc: {acc:.1f}%")
        mean_acc = sum(accs) / len(accs)
        print(f"* average: {mean_acc:.1f}%")
        return mean_acc
