"""A method's names (trainer, configs, options), read from its scripts/<method>/settings.sh.

The scripts are the one source of truth: rather than keep a second table, the sweep sources the
same settings.sh in bash and reads the variables lib.sh uses, so a sweep's runs follow any change
there.
"""
from __future__ import annotations

import os
import os.path as osp
import subprocess
from dataclasses import dataclass
from typing import Dict, Iterable, List, Tuple

from .errors import SweepError

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPTS = osp.join(REPO_ROOT, "scripts")
# Prints the variables lib.sh reads, one per line, then the few-shot config of each "DATASET SHOTS"
# argument pair, from the same fewshot_default_cfg that lib.sh's fewshot calls (a method's settings.sh
# may redefine it: CoOp's schedule, PromptSRC's GPA setting).
QUERY = r'''
source "$SCRIPTS/$METHOD/settings.sh" > /dev/null
printf '%s\n' "$TRAINER" "$DEFAULT_CFG" "$IMAGENET_CFG" "$XD_CFG" "$NO_TRAINING" "$EXTRA_OPTS"
while [[ $# -ge 2 ]]; do
    fewshot_default_cfg "$1" "$2"
    shift 2
done
'''


@dataclass(frozen=True)
class MethodSettings:
    """What lib.sh knows about one method (scripts/<name>/settings.sh)."""

    name: str
    trainer: str
    default_cfg: str
    imagenet_cfg: str
    xd_cfg: str
    no_training: bool
    extra_opts: Tuple[str, ...]
    fewshot_cfgs: Dict[Tuple[str, int], str]

    def method_yaml(self, cfg: str) -> str:
        path = osp.join(REPO_ROOT, "configs", "trainers", self.trainer, f"{cfg}.yaml")
        if not osp.isfile(path):
            folder = osp.dirname(path)
            names = sorted(name[:-5] for name in os.listdir(folder) if name.endswith(".yaml")) if osp.isdir(folder) else []
            raise SweepError(f"unknown config '{cfg}' for {self.trainer}: no {path}. Available: {', '.join(names) or '(none)'}")
        return path


def available_methods() -> List[str]:
    return sorted(name for name in os.listdir(SCRIPTS) if osp.isfile(osp.join(SCRIPTS, name, "settings.sh")))


def read_method(name: str, output_root: str, fewshot_pairs: Iterable[Tuple[str, int]] = ()) -> MethodSettings:
    """Source scripts/<name>/settings.sh with OUTPUT=output_root and return what it set."""
    if name not in available_methods():
        raise SweepError(f"unknown method '{name}': no scripts/{name}/settings.sh. Available: {', '.join(available_methods())}")
    pairs = list(fewshot_pairs)
    env = {key: value for key, value in os.environ.items()
           if key not in ("DEFAULT_CFG", "EXTRA_OPTS", "IMAGENET_CFG", "XD_CFG", "FEWSHOT_CFG", "NO_TRAINING",
                          "CONFIG_TAG", "BACKBONE")}
    env.update(SCRIPTS=SCRIPTS, METHOD=name, OUTPUT=output_root)
    arguments = [str(item) for pair in pairs for item in pair]
    done = subprocess.run(["bash", "-c", QUERY, "settings", *arguments], env=env, capture_output=True, text=True)
    lines = done.stdout.split("\n")
    if done.returncode != 0 or len(lines) < 6 + len(pairs):
        raise SweepError(f"could not read scripts/{name}/settings.sh: {done.stderr.strip() or done.stdout.strip()}")
    trainer, default_cfg, imagenet_cfg, xd_cfg, no_training, extra = lines[:6]
    return MethodSettings(name, trainer, default_cfg, imagenet_cfg, xd_cfg, no_training == "1",
                          tuple(extra.split()), {pair: cfg for pair, cfg in zip(pairs, lines[6:6 + len(pairs)])})
