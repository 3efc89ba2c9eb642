"""The pure rules behind the study options of ``datasets/study.py`` (see its docstring for the keys).

Each rule is deterministic: the few-shot draws use Python's ``random`` (seeded by the run, like CoOp's
draws), every other choice its own ``random.Random`` seeded from SEED, so an option never shifts the
draws of anything else.
"""
from __future__ import annotations

import math
import random
import string
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

from dassl.data.datasets import Datum
from dassl.utils.errors import ConfigValueError

BASE_ROUNDINGS = ("ceil", "floor")
FEWSHOT_SAMPLERS = ("coop", "stratified")
TYPO_KINDS = ("swap", "typo")


def check_sampler(sampler: str) -> None:
    if sampler not in FEWSHOT_SAMPLERS:
        raise ConfigValueError(f"DATASET.FEWSHOT_SAMPLER is {sampler!r}; use one of {', '.join(FEWSHOT_SAMPLERS)}.")


def base_class_count(num_classes: int, ratio: int = 1, rounding: str = "ceil") -> int:
    """How many of ``num_classes`` sorted labels are base classes at base:new = ratio:1.

    "ceil": N - floor(N / (r + 1)) (base gets the odd class: CoOp at 1:1); "floor": floor(N r / (r + 1)).
    """
    if ratio < 1:
        raise ConfigValueError(f"DATASET.BASE_NEW_RATIO is {ratio}; use an integer r >= 1 for a base:new ratio of r:1.")
    if rounding not in BASE_ROUNDINGS:
        raise ConfigValueError(f"DATASET.BASE_ROUNDING is {rounding!r}; use one of {', '.join(BASE_ROUNDINGS)}.")
    base = num_classes - num_classes // (ratio + 1) if rounding == "ceil" else num_classes * ratio // (ratio + 1)
    if not 0 < base < num_classes:
        raise ConfigValueError(
            f"A base:new ratio of {ratio}:1 ({rounding}) leaves {base} base and {num_classes - base} new classes "
            f"out of {num_classes}; lower DATASET.BASE_NEW_RATIO so that both sides have a class."
        )
    return base


def stratified_fewshot(data_source: Sequence[Datum], num_shots: int) -> Tuple[List[Datum], List[Datum]]:
    """Per label (first-appearance order), 2K distinct items from ``random``: K to train, K to val.

    A class with fewer than 2K items gives ceil(n / 2) to train and the rest to val.
    """
    by_label: Dict[int, List[Datum]] = defaultdict(list)
    for item in data_source:
        by_label[item.label].append(item)
    train, val = [], []
    for items in by_label.values():
        drawn = random.sample(items, min(len(items), 2 * num_shots))
        n_train = min(num_shots, math.ceil(len(drawn) / 2))
        train += drawn[:n_train]
        val += drawn[n_train:]
    return train, val


def flip_labels(data_source: Sequence[Datum], rate: float, seed: int) -> List[Datum]:
    """Symmetric label noise: round(rate * n) items, chosen with ``seed``, move to another class.

    The new label is uniform over the other labels present; its class name follows the label.
    """
    names = {item.label: item.classname for item in data_source}
    labels = sorted(names)
    n_flip = round(rate * len(data_source))
    if n_flip and len(labels) < 2:
        raise ConfigValueError("DATASET.LABEL_NOISE_RATE needs at least two training classes to flip labels between.")
    rng = random.Random(f"label-noise-{seed}")
    flipped = list(data_source)
    for index in sorted(rng.sample(range(len(flipped)), n_flip)):
        item = flipped[index]
        label = rng.choice([other for other in labels if other != item.label])
        flipped[index] = Datum(impath=item.impath, label=label, domain=item.domain, classname=names[label])
    return flipped


def imbalanced_shots(num_shots: int, num_classes: int, factor: float) -> List[int]:
    """Shots per class, decaying geometrically from ``num_shots`` to ``num_shots / factor``."""
    if num_classes == 1:
        return [num_shots]
    return [max(1, round(num_shots * factor ** (-i / (num_classes - 1)))) for i in range(num_classes)]


def make_imbalanced(data_source: Sequence[Datum], factor: float) -> List[Datum]:
    """Keep the first n_i items of the i-th class (sorted labels), n_i from :func:`imbalanced_shots`."""
    by_label: Dict[int, List[Datum]] = defaultdict(list)
    for item in data_source:
        by_label[item.label].append(item)
    labels = sorted(by_label)
    largest = max(len(items) for items in by_label.values())
    keep = dict(zip(labels, imbalanced_shots(largest, len(labels), factor)))
    seen: Dict[int, int] = defaultdict(int)
    output = []
    for item in data_source:
        if seen[item.label] < keep[item.label]:
            output.append(item)
            seen[item.label] += 1
    return output


def noisy_classname(name: str, rate: float, kind: str, rng: random.Random) -> str:
    """``name`` with round(rate * letters) typos: adjacent swaps, or (``typo``) a random edit each."""
    chars = list(name)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    for _ in range(round(rate * len(letters))):
        letters = [i for i, c in enumerate(chars) if c.isalpha()]
        if not letters:
            break
        pos = rng.choice(letters)
        edit = "swap" if kind == "swap" else rng.choice(("swap", "delete", "insert", "substitute"))
        if edit == "swap":
            other = pos + 1 if pos + 1 < len(chars) else pos - 1
            if other >= 0:
                chars[pos], chars[other] = chars[other], chars[pos]
        elif edit == "delete" and len(letters) > 1:
            del chars[pos]
        elif edit == "insert":
            chars.insert(pos, rng.choice(string.ascii_lowercase))
        else:
            chars[pos] = rng.choice([c for c in string.ascii_lowercase if c != chars[pos].lower()])
    return "".join(chars)


def noisy_classnames(classnames: Sequence[str], rate: float, kind: str, seed: int) -> List[str]:
    """Every class name with typos; each name has its own seeded stream, so a name's typos do not
    depend on which other classes are in the list."""
    return [noisy_classname(name, rate, kind, random.Random(f"typo-{seed}-{name}")) for name in classnames]
