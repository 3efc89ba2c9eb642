"""Evaluators, chosen by TEST.EVALUATOR."""
from .build import EVALUATOR_REGISTRY, build_evaluator
from .classification import Classification, EvaluatorBase, macro_f1_score
from .predictions import PREDICTIONS_FILE, read_predictions, write_predictions

__all__ = [
    "EVALUATOR_REGISTRY", "PREDICTIONS_FILE", "Classification", "EvaluatorBase", "build_evaluator", "macro_f1_score",
    "read_predictions", "write_predictions",
]
