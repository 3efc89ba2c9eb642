"""Evaluators, chosen by TEST.EVALUATOR."""
from .build import EVALUATOR_REGISTRY, build_evaluator
from .classification import Classification, EvaluatorBase, macro_f1_score

__all__ = ["EVALUATOR_REGISTRY", "Classification", "EvaluatorBase", "build_evaluator", "macro_f1_score"]
