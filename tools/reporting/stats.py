"""Seed statistics and significance tests behind the tables and comparisons.

Spreads are population standard deviations over seeds (numpy's default, as parse_test_res.py and the
CoOp-family parsers print them). Base-to-novel HM follows the published tables: 2BN/(B+N) of the
seed-averaged B and N, and for the average row the HM of the dataset-averaged B and N.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy import stats as scipy_stats

BOOTSTRAP_SAMPLES = 2000
SIGNIFICANCE_LEVEL = 0.05


@dataclass(frozen=True)
class Stat:
    """A value over seeds: its mean (or, for HM, the HM of the means), spread and per-seed values."""

    mean: float
    std: float
    seeds: int
    per_seed: Dict[int, float] = field(default_factory=dict, compare=False)


def harmonic_mean(base: float, novel: float) -> float:
    return 2 * base * novel / (base + novel) if base + novel > 0 else 0.0


def seed_stat(per_seed: Mapping[int, float]) -> Stat:
    values = np.array(list(per_seed.values()), dtype=np.float64)
    return Stat(float(values.mean()), float(values.std()), len(values), dict(sorted(per_seed.items())))


def hm_stat(base: Stat, novel: Stat) -> Stat:
    """HM of the seed means; its spread is that of the per-seed HMs over the seeds both have."""
    common = sorted(set(base.per_seed) & set(novel.per_seed))
    per_seed = {seed: harmonic_mean(base.per_seed[seed], novel.per_seed[seed]) for seed in common}
    spread = float(np.std(list(per_seed.values()))) if per_seed else 0.0
    return Stat(harmonic_mean(base.mean, novel.mean), spread, len(common), per_seed)


def average_stat(cells: Sequence[Stat]) -> Stat:
    """The mean over datasets; its spread is that of the per-seed averages (cells share their seeds)."""
    seeds = sorted(set.intersection(*(set(cell.per_seed) for cell in cells)))
    per_seed = {seed: float(np.mean([cell.per_seed[seed] for cell in cells])) for seed in seeds}
    mean = float(np.mean([cell.mean for cell in cells]))
    return Stat(mean, float(np.std(list(per_seed.values()))) if per_seed else 0.0, len(seeds), per_seed)


@dataclass(frozen=True)
class Difference:
    """A - B on one cell with the test that says whether it is more than noise."""

    diff: float
    p_value: Optional[float]
    test: str
    n: int
    ci95: Optional[Tuple[float, float]] = None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < SIGNIFICANCE_LEVEL


def paired_t_test(a: Mapping[int, float], b: Mapping[int, float]) -> Difference:
    """Student's paired t-test over the seeds both have (two-sided)."""
    seeds = sorted(set(a) & set(b))
    diffs = np.array([a[s] - b[s] for s in seeds], dtype=np.float64)
    if len(diffs) < 2:
        raise ValueError(f"a paired test needs two common seeds, got {len(diffs)}")
    if np.allclose(diffs, diffs[0]):  # no spread: t is infinite (or undefined when all are zero)
        p_value = 1.0 if diffs[0] == 0 else 0.0
    else:
        p_value = float(scipy_stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    return Difference(float(diffs.mean()), p_value, f"paired t-test over {len(seeds)} seeds", len(seeds))


def _hm_array(base: np.ndarray, novel: np.ndarray) -> np.ndarray:
    total = base + novel
    return np.divide(2 * base * novel, total, out=np.zeros_like(total), where=total > 0)


def bootstrap_images(
    correct_a: Sequence[np.ndarray], correct_b: Sequence[np.ndarray], combine: str = "accuracy",
    samples: int = BOOTSTRAP_SAMPLES, rng_seed: int = 0,
) -> Difference:
    """Paired bootstrap over test images of one seed: resample images, recompute A - B.

    ``correct_a``/``correct_b`` hold one boolean array per image set (one for an accuracy; base then
    new for ``combine="hm"``), in the same image order for A and B. The p-value is two-sided: twice
    the smaller share of resampled differences on either side of zero.
    """
    rng = np.random.default_rng(rng_seed)
    resampled = []
    observed = []
    for ca, cb in zip(correct_a, correct_b):
        n = len(ca)
        index = rng.integers(0, n, size=(samples, n))
        resampled.append((100.0 * ca[index].mean(1), 100.0 * cb[index].mean(1)))
        observed.append((100.0 * ca.mean(), 100.0 * cb.mean()))
    if combine == "hm":
        (base_a, base_b), (new_a, new_b) = resampled
        diffs = _hm_array(base_a, new_a) - _hm_array(base_b, new_b)
        (obs_base_a, obs_base_b), (obs_new_a, obs_new_b) = observed
        diff = harmonic_mean(obs_base_a, obs_new_a) - harmonic_mean(obs_base_b, obs_new_b)
    else:
        diffs = resampled[0][0] - resampled[0][1]
        diff = observed[0][0] - observed[0][1]
    p_value = min(1.0, 2 * min(float((diffs <= 0).mean()), float((diffs >= 0).mean())))
    low, high = np.percentile(diffs, [2.5, 97.5])
    images = sum(len(ca) for ca in correct_a)
    return Difference(float(diff), p_value, f"bootstrap over {images} test images (1 seed)", 1,
                      (float(low), float(high)))
