"""The config folder of a run with extra options: ``<cfg>`` or ``<cfg>_<tag>``.

The scripts (scripts/lib.sh), tools/run_table.py and tools/sweep.py name a run's folder
``.../<Trainer>/<cfg>/seed<S>``. Options that can change the numbers (any key outside
``RESULT_NEUTRAL_KEYS``: a learning rate, an adapter switch, another CLIP file) would otherwise land
in the folder of the plain config, where a finished run is skipped and its old numbers reported as if
they were the ablation's. So such options send the run to ``<cfg>_<tag>``: the user's tag when one is
given (CONFIG_TAG), else the first 8 hex digits of a hash of those options. Worker counts, print
frequency, the device and the other result-neutral options never change the folder.

A hash names its options; a user's tag names them only by the user's word. So each run of a tagged
folder keeps ``config_tag.txt`` (the tag, the options' hash, the options as given), and a finished
run there counts as done only for the same options: reusing a tag for other options is refused.

    python tools/config_tag.py TRAINER.MMADAPTER.SHARED_ADAPTER False DATALOADER.NUM_WORKERS 8

prints the hash of the options that can change the numbers (nothing when none can).
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import os.path as osp
import re
import sys
from typing import Any, Dict, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dassl.utils.errors import FrameworkError, add_debug_flag, run_cli
from dassl.utils.result_neutral import RESULT_NEUTRAL_KEYS

TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
HASH_DIGITS = 8
TAG_RECORD = "config_tag.txt"


class ConfigTagError(FrameworkError, ValueError):
    """Extra options or a tag that cannot name a folder, or a tag reused for other options."""


def config_value(text: str) -> Any:
    """A command-line value as the config reads it (``0.0010`` and ``1e-3`` are one value)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def result_changing_options(opts: Sequence[str]) -> Dict[str, Any]:
    """The KEY -> value overrides of ``opts`` (KEY VALUE pairs, the last value of a key wins) that
    can change a run's numbers."""
    if len(opts) % 2:
        raise ConfigTagError(f"extra options must be KEY VALUE pairs; got an odd number of words: {' '.join(opts)}")
    changing: Dict[str, Any] = {}
    for key, value in zip(opts[::2], opts[1::2]):
        if key not in RESULT_NEUTRAL_KEYS:
            changing[key] = config_value(value)
    return changing


def options_hash(opts: Sequence[str]) -> str:
    """8 hex digits naming the result-changing options of ``opts``; ``""`` when there are none."""
    changing = result_changing_options(opts)
    if not changing:
        return ""
    text = json.dumps(sorted((key, repr(value)) for key, value in changing.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_DIGITS]


def check_tag(tag: str) -> str:
    if not TAG_PATTERN.match(tag):
        raise ConfigTagError(f"CONFIG_TAG '{tag}' cannot name a folder: use letters, digits and . _ + - "
                             "(starting with a letter or digit), e.g. CONFIG_TAG=no_shared")
    return tag


def config_suffix(opts: Sequence[str], user_tag: str = "") -> str:
    """``""``, ``_<user_tag>`` or ``_<hash>``: what ``opts`` append to the config level of a run's folder."""
    if user_tag:
        return "_" + check_tag(user_tag)
    digest = options_hash(opts)
    return "_" + digest if digest else ""


def config_folder(cfg: str, opts: Sequence[str], user_tag: str = "") -> str:
    """``<cfg>``, ``<cfg>_<user_tag>`` or ``<cfg>_<hash>``: the config level of a run's folder."""
    return cfg + config_suffix(opts, user_tag)


def write_tag_record(run_folder: str, user_tag: str, opts: Sequence[str]) -> None:
    """Note in a tagged run's folder which options its tag stands for (scripts/lib.sh writes the same)."""
    from dassl.utils import atomic_path  # here, not at the top: the scripts' hash query stays torch-free

    os.makedirs(run_folder, exist_ok=True)
    with atomic_path(osp.join(run_folder, TAG_RECORD)) as tmp, open(tmp, "w") as handle:
        handle.write(f"tag {user_tag}\noptions_hash {options_hash(opts)}\noptions {' '.join(opts)}\n")


def read_tag_record(run_folder: str) -> Optional[Dict[str, str]]:
    """The fields of the folder's config_tag.txt, or None when it has none."""
    try:
        with open(osp.join(run_folder, TAG_RECORD)) as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return None
    return dict((line.split(" ", 1) + [""])[:2] for line in lines if line)


def check_tag_record(run_folder: str, user_tag: str, opts: Sequence[str]) -> None:
    """Refuse a tagged folder whose run was made with other options than ``opts``."""
    record = read_tag_record(run_folder)
    if record is None or record.get("options_hash", "") == options_hash(opts):
        return
    raise ConfigTagError(
        f"{run_folder} is a run of CONFIG_TAG={user_tag} with other options:\n"
        f"  recorded: {record.get('options', '')}\n  now:      {' '.join(opts)}\n"
        "Give these options another tag (or none: their hash then names the folder), or move that folder "
        "away to run it again."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Print the hash that names the folder of runs with these extra options (nothing when "
                    "they cannot change the numbers).")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE pairs, as in EXTRA_OPTS")
    add_debug_flag(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    print(options_hash(build_parser().parse_args(argv).opts))


if __name__ == "__main__":
    run_cli(main)
