"""Batch metrics used by trainers in their loss summaries."""
from .accuracy import compute_accuracy

__all__ = ["compute_accuracy"]
