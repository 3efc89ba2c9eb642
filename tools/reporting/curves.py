"""Training curves (loss, accuracy, learning rate per epoch) read back from a run's log.txt.

The engine prints ``epoch [e/E] batch [b/B] ... loss 0.5 (0.6) acc 80.0 (75.0) lr 2.0000e-03 eta ...``;
the bracketed value is the running average over the epoch, so an epoch's point is its last line's
average. A resumed run appends to the same log: a later line for an epoch replaces an earlier one.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List

EPOCH_LINE = re.compile(r"^epoch \[(?P<epoch>\d+)/\d+\] batch \[\d+/\d+\].*?\blr (?P<lr>[-+.\deE]+)")
METER = re.compile(r"\b(?P<name>[a-z_]+) [-+.\deE]+ \((?P<avg>[-+.\deE]+)\)")
IGNORED_METERS = ("time", "data")


@dataclass
class Curves:
    """Per-epoch values of one run: {meter name: [value per epoch]} and the learning rate."""

    epochs: List[int] = field(default_factory=list)
    meters: Dict[str, List[float]] = field(default_factory=dict)
    lr: List[float] = field(default_factory=list)


def read_curves(run_folder: str) -> Curves:
    """The run's per-epoch curves; empty when its log holds no training line (an evaluation run)."""
    path = os.path.join(run_folder, "log.txt")
    last_line: Dict[int, str] = {}
    if os.path.isfile(path):
        with open(path, errors="replace") as handle:
            for line in handle:
                match = EPOCH_LINE.match(line.strip())
                if match:
                    last_line[int(match.group("epoch"))] = line.strip()
    curves = Curves()
    for epoch in sorted(last_line):
        line = last_line[epoch]
        curves.epochs.append(epoch)
        curves.lr.append(float(EPOCH_LINE.match(line).group("lr")))
        for meter in METER.finditer(line):
            if meter.group("name") not in IGNORED_METERS:
                curves.meters.setdefault(meter.group("name"), []).append(float(meter.group("avg")))
    return curves
