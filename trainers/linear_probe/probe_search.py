"""The regularisation search of CoOp's linear-probe protocol (``lpclip/linear_probe.py``), on features.

L2 logistic regression (lbfgs, sklearn defaults otherwise). First a coarse grid of C scored on the
validation features (the first best wins a tie); then ``num_step`` bisections in log10 space around it,
starting from [C_peak / 10, C_peak * 10]: fit both ends, keep the right end only if its validation
accuracy is strictly higher, and halve the range towards the kept end. The classifier kept at the last
step is the result.

The search is a sequence of fits, each C decided by the accuracies before it, so a stopped search keeps
its finished fits (``RegularisationSearch.state_dict``) and continues where it stopped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

COARSE_GRID: Tuple[float, ...] = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)


@dataclass
class ProbeSearchResult:
    c: float
    val_accuracy: float
    classifier: "LogisticRegression"
    coarse_c: float
    trace: List[Tuple[float, float, float, float]]  # per bisection step: left C, its acc, right C, its acc


def fit_probe(features: np.ndarray, labels: np.ndarray, c: float, max_iter: int = 1000) -> "LogisticRegression":
    """CoOp's classifier: L2 logistic regression, ``LogisticRegression(solver="lbfgs", max_iter, C=c)``
    (L2 is the default; newer sklearn deprecates spelling out ``penalty="l2"``).

    sklearn is imported here, not at module load: every train.py run imports this module.
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(solver="lbfgs", max_iter=max_iter, C=c).fit(features, labels)


def probe_accuracy(classifier: "LogisticRegression", features: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy in percent."""
    return float(np.mean(classifier.predict(features) == labels) * 100.0)


def classifier_state(classifier: "LogisticRegression") -> Dict[str, torch.Tensor]:
    """What predicting needs, as tensors (a resumable state loads with ``weights_only=True``)."""
    return {name: torch.as_tensor(getattr(classifier, f"{name}_")) for name in ("classes", "coef", "intercept")}


def restored_classifier(state: Dict[str, torch.Tensor], c: float, max_iter: int) -> "LogisticRegression":
    """The fitted classifier of ``classifier_state``, without fitting again."""
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(solver="lbfgs", max_iter=max_iter, C=c)
    for name, value in state.items():
        setattr(classifier, f"{name}_", value.numpy())
    classifier.n_features_in_ = classifier.coef_.shape[1]
    return classifier


class RegularisationSearch:
    """The search, one fit at a time. ``scores`` holds (C, validation accuracy) of every finished fit;
    only the classifiers that can still be the result are kept."""

    def __init__(self, coarse_grid: Sequence[float] = COARSE_GRID, num_step: int = 8, max_iter: int = 1000) -> None:
        if not coarse_grid:
            raise ValueError("The coarse C grid is empty; give at least one value (CoOp uses 1e6 ... 1e-6).")
        if num_step < 0:
            raise ValueError(f"The number of bisection steps is {num_step}; it must be 0 or more (CoOp uses 8).")
        self.coarse_grid = [float(c) for c in coarse_grid]
        self.num_step = num_step
        self.max_iter = max_iter
        self.scores: List[Tuple[float, float]] = []
        self.kept: Dict[int, "LogisticRegression"] = {}

    @property
    def total_fits(self) -> int:
        return len(self.coarse_grid) + 2 * self.num_step

    def _plan(self) -> Tuple[int, Optional[int], Optional[float]]:
        """From the finished fits: the index of the fit kept so far, that of a bisection step's left end
        still waiting for its right end, and the next C to fit (None when the search is over)."""
        grid, done = self.coarse_grid, len(self.scores)
        accuracies = [acc for _, acc in self.scores]
        if done < len(grid):
            return (int(np.argmax(accuracies)) if done else -1), None, grid[done]
        kept = int(np.argmax(accuracies[: len(grid)]))
        left_c, right_c = grid[kept] * 0.1, grid[kept] * 10
        for left in range(len(grid), len(grid) + 2 * self.num_step, 2):
            if left >= done:
                return kept, None, left_c
            if left + 1 >= done:
                return kept, left, right_c
            log_left, log_right = np.log10(left_c), np.log10(right_c)
            middle = (log_left + log_right) / 2
            if accuracies[left + 1] > accuracies[left]:
                kept, log_left = left + 1, middle
            else:
                kept, log_right = left, middle
            left_c, right_c = float(10 ** log_left), float(10 ** log_right)
        return kept, None, None

    def next_c(self) -> Optional[float]:
        return self._plan()[2]

    def add(self, c: float, classifier: "LogisticRegression", accuracy: float) -> None:
        """Record a finished fit and let go of the classifiers that can no longer be the result."""
        self.scores.append((c, accuracy))
        self.kept[len(self.scores) - 1] = classifier
        kept, pending, _ = self._plan()
        self.kept = {index: clf for index, clf in self.kept.items() if index in (kept, pending)}

    def run(self, train_features: np.ndarray, train_labels: np.ndarray, val_features: np.ndarray,
            val_labels: np.ndarray, after_fit: Optional[Callable[["RegularisationSearch"], None]] = None
            ) -> ProbeSearchResult:
        """Fit what is left (calling ``after_fit`` after each fit but the last), then the result."""
        c = self.next_c()
        while c is not None:
            classifier = fit_probe(train_features, train_labels, c, self.max_iter)
            self.add(c, classifier, probe_accuracy(classifier, val_features, val_labels))
            c = self.next_c()
            if c is not None and after_fit is not None:
                after_fit(self)
        return self.result()

    def result(self) -> ProbeSearchResult:
        kept, _, _ = self._plan()
        grid = len(self.coarse_grid)
        coarse_c = self.coarse_grid[int(np.argmax([acc for _, acc in self.scores[:grid]]))]
        bisection = self.scores[grid:]
        trace = [(*bisection[i], *bisection[i + 1]) for i in range(0, len(bisection), 2)]
        c, accuracy = self.scores[kept]
        return ProbeSearchResult(float(c), accuracy, self.kept[kept], coarse_c, trace)

    def state_dict(self) -> Dict[str, Any]:
        return {
            "scores": [list(score) for score in self.scores],
            "kept": [dict(classifier_state(clf), index=index) for index, clf in self.kept.items()],
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.scores = [(float(c), float(acc)) for c, acc in state["scores"]]
        self.kept = {}
        for entry in state["kept"]:
            index = int(entry["index"])
            arrays = {name: value for name, value in entry.items() if name != "index"}
            self.kept[index] = restored_classifier(arrays, self.scores[index][0], self.max_iter)


def search_regularisation(train_features: np.ndarray, train_labels: np.ndarray, val_features: np.ndarray,
                          val_labels: np.ndarray, coarse_grid: Sequence[float] = COARSE_GRID,
                          num_step: int = 8, max_iter: int = 1000) -> ProbeSearchResult:
    """Pick C on the validation features as CoOp's linear probe does; return the kept classifier."""
    return RegularisationSearch(coarse_grid, num_step, max_iter).run(train_features, train_labels, val_features, val_labels)
