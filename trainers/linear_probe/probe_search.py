"""The regularisation search of CoOp's linear-probe protocol (``lpclip/linear_probe.py``), on features.

L2 logistic regression (lbfgs, sklearn defaults otherwise). First a coarse grid of C scored on the
validation features (the first best wins a tie); then ``num_step`` bisections in log10 space around it,
starting from [C_peak / 10, C_peak * 10]: fit both ends, keep the right end only if its validation
accuracy is strictly higher, and halve the range towards the kept end. The classifier kept at the last
step is the result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Sequence, Tuple

import numpy as np

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


def search_regularisation(train_features: np.ndarray, train_labels: np.ndarray, val_features: np.ndarray,
                          val_labels: np.ndarray, coarse_grid: Sequence[float] = COARSE_GRID,
                          num_step: int = 8, max_iter: int = 1000) -> ProbeSearchResult:
    """Pick C on the validation features as CoOp's linear probe does; return the kept classifier."""
    if not coarse_grid:
        raise ValueError("The coarse C grid is empty; give at least one value (CoOp uses 1e6 ... 1e-6).")
    if num_step < 0:
        raise ValueError(f"The number of bisection steps is {num_step}; it must be 0 or more (CoOp uses 8).")

    def fit_and_score(c: float) -> Tuple["LogisticRegression", float]:
        classifier = fit_probe(train_features, train_labels, c, max_iter)
        return classifier, probe_accuracy(classifier, val_features, val_labels)

    coarse = [fit_and_score(c) for c in coarse_grid]
    peak = int(np.argmax([acc for _, acc in coarse]))
    coarse_c = float(coarse_grid[peak])
    kept_c, (kept, kept_acc) = coarse_c, coarse[peak]
    trace = []
    left_c, right_c = coarse_c * 0.1, coarse_c * 10
    for _ in range(num_step):
        left, left_acc = fit_and_score(left_c)
        right, right_acc = fit_and_score(right_c)
        trace.append((left_c, left_acc, right_c, right_acc))
        log_left, log_right = np.log10(left_c), np.log10(right_c)
        middle = (log_left + log_right) / 2
        if right_acc > left_acc:
            kept_c, kept, kept_acc = right_c, right, right_acc
            log_left = middle
        else:
            kept_c, kept, kept_acc = left_c, left, left_acc
            log_right = middle
        left_c, right_c = float(10 ** log_left), float(10 ** log_right)
    return ProbeSearchResult(float(kept_c), kept_acc, kept, coarse_c, trace)
