"""Average a metric over seeds from log.txt files, as CoOp-family repositories do.

    python parse_test_res.py output/base2new/train_base/eurosat/shots_16/MultiModalAdapter/vit_b16_ep5
    python parse_test_res.py output/base2new/test_new/eurosat/shots_16/MultiModalAdapter/vit_b16_ep5 --test-log

DIRECTORY holds one sub-folder per seed, each with a log.txt. Only lines after the end signal count
("Finish training" for training logs, "=> result" with --test-log), and the last
``* accuracy: X%`` after it wins. Prints each file's value, then the mean and the population standard
deviation over seeds (or the 95% confidence interval with --ci95). --multi-exp treats every
sub-folder of DIRECTORY as such a directory and also prints the mean of their means.
The command line and the printed lines match the reference parser, so existing scripts keep working.
tools/report.py builds the full tables from result.json files instead.
"""
import argparse
import os
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np

from dassl.utils.errors import add_debug_flag, run_cli

TRAIN_END_SIGNAL = "Finish training"
TEST_END_SIGNAL = "=> result"


def metric_pattern(keyword: str) -> "re.Pattern[str]":
    """The log line of one metric, e.g. ``* accuracy: 71.2%``."""
    return re.compile(r"\* " + re.escape(keyword) + r": ([\.\deE+-]+)%")


def sorted_visible_entries(directory: str) -> List[str]:
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


def read_metric(log_path: str, end_signal: str, pattern: "re.Pattern[str]") -> Optional[float]:
    """The last value matched after the first end-signal line, or None if there is none."""
    value = None
    signal_seen = False
    with open(log_path, "r", errors="replace") as log:
        for line in log:
            line = line.strip()
            if line == end_signal:
                signal_seen = True
            if signal_seen:
                match = pattern.search(line)
                if match:
                    value = float(match.group(1))
    return value


def ci95(values: List[float]) -> float:
    return 1.96 * float(np.std(values)) / np.sqrt(len(values))


def parse_directory(
    directory: str, keyword: str, end_signal: str, use_ci95: bool
) -> Dict[str, float]:
    """Print the per-seed values and their summary; return {keyword: mean}."""
    if not osp.isdir(directory):
        raise SystemExit(f"Not a directory: {directory!r}. Pass the folder that holds the seed folders.")
    print(f"Parsing files in {directory}")
    pattern = metric_pattern(keyword)
    values = []
    for name in sorted_visible_entries(directory):
        log_path = osp.join(directory, name, "log.txt")
        if not osp.isfile(log_path):
            raise SystemExit(
                f"No log.txt in {osp.join(directory, name)!r}. DIRECTORY must hold only seed folders "
                "(seed1, seed2, ...) each with a log.txt; with --multi-exp, one such folder per experiment."
            )
        value = read_metric(log_path, end_signal, pattern)
        if value is not None:
            print(f"file: {log_path}. {keyword}: {value:.2f}%. ")
            values.append(value)
    if not values:
        hint = "" if end_signal == TEST_END_SIGNAL else " (evaluation-only logs need --test-log)"
        raise SystemExit(f"Nothing found in {directory}: no '{end_signal}' line followed by '* {keyword}:'{hint}")
    spread = ci95(values) if use_ci95 else float(np.std(values))
    mean = float(np.mean(values))
    print("===")
    print(f"Summary of directory: {directory}")
    print(f"* {keyword}: {mean:.2f}% +- {spread:.2f}%")
    print("===")
    return OrderedDict([(keyword, mean)])


def main(args: argparse.Namespace) -> None:
    end_signal = TEST_END_SIGNAL if args.test_log else TRAIN_END_SIGNAL
    if not args.multi_exp:
        parse_directory(args.directory, args.keyword, end_signal, args.ci95)
        return
    means: Dict[str, List[float]] = OrderedDict()
    for name in sorted_visible_entries(args.directory):
        experiment = osp.join(args.directory, name)
        for key, mean in parse_directory(experiment, args.keyword, end_signal, args.ci95).items():
            means.setdefault(key, []).append(mean)
    print("Average performance")
    for key, values in means.items():
        print(f"* {key}: {np.mean(values):.2f}%")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=str, help="folder holding one sub-folder per seed")
    parser.add_argument("--ci95", action="store_true", help="print the 95%% confidence interval instead of the std")
    parser.add_argument("--test-log", action="store_true", help="parse evaluation-only logs ('=> result')")
    parser.add_argument("--multi-exp", action="store_true", help="DIRECTORY holds several experiments")
    parser.add_argument("--keyword", type=str, default="accuracy", help="metric to read (default: accuracy)")
    add_debug_flag(parser)
    return parser


if __name__ == "__main__":
    run_cli(lambda: main(build_parser().parse_args()))
