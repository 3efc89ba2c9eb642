"""Who ran what: display names of the trainers, the scripts that run them and the commands that fill
a missing run.

Method rows are data-driven: any trainer folder found under the output root becomes a column group.
The names below only make known trainers read as the papers name them. The scripts'
``scripts/<method>/settings.sh`` files say which config a trainer uses for ImageNet in base-to-novel
(joined to its table) and which folder's scripts re-run a missing run.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DISPLAY_NAMES = {
    "ZeroshotCLIP": "Zero-shot CLIP",
    "CoOp": "CoOp",
    "CoCoOp": "CoCoOp",
    "KgCoOp": "KgCoOp",
    "MaPLe": "MaPLe",
    "PromptSRC": "PromptSRC",
    "CLIP_Adapter": "CLIP-Adapter",
    "LinearProbe": "Linear probe",
    "MultiModalAdapter": "MMA",
    "MultiModalAdapterPP": "MMA++",
    "AttentionMultiModalAdapter": "AttnMMA",
}
SETTINGS_LINE = re.compile(r"^(TRAINER|DEFAULT_CFG|IMAGENET_CFG|XD_CFG|FEWSHOT_CFG)=(.*)$")


def display_name(trainer: str) -> str:
    return DISPLAY_NAMES.get(trainer, trainer)


def method_rank(trainer: str) -> int:
    """Column order: known baselines first, then unknown trainers, then the MMA family (as papers order them)."""
    order = list(DISPLAY_NAMES)
    if trainer not in DISPLAY_NAMES:
        return order.index("MultiModalAdapter")
    return order.index(trainer) + (1 if order.index(trainer) >= order.index("MultiModalAdapter") else 0)


@dataclass(frozen=True)
class ScriptSettings:
    """The names a method's scripts/<folder>/settings.sh gives scripts/lib.sh."""

    folder: str
    trainer: str
    default_cfg: str
    imagenet_cfg: str
    xd_cfg: str
    fewshot_cfg: str


def _shell_value(raw: str) -> str:
    value = raw.strip().strip('"').strip("'")
    fallback = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return fallback.group(1) if fallback else value


@lru_cache(maxsize=None)
def script_settings(repo_root: str = REPO_ROOT) -> Dict[str, ScriptSettings]:
    """{trainer: its scripts' settings}, read from every scripts/*/settings.sh (never executed)."""
    found = {}
    scripts = os.path.join(repo_root, "scripts")
    for folder in sorted(os.listdir(scripts)) if os.path.isdir(scripts) else []:
        path = os.path.join(scripts, folder, "settings.sh")
        if not os.path.isfile(path):
            continue
        values = {}
        with open(path) as handle:
            for line in handle:
                match = SETTINGS_LINE.match(line.strip())
                if match:
                    values[match.group(1)] = _shell_value(match.group(2))
        if "TRAINER" in values and "DEFAULT_CFG" in values:
            default = values["DEFAULT_CFG"]
            found[values["TRAINER"]] = ScriptSettings(
                folder, values["TRAINER"], default, values.get("IMAGENET_CFG", default),
                values.get("XD_CFG", default), values.get("FEWSHOT_CFG", default),
            )
    return found


@lru_cache(maxsize=None)
def config_names(trainer: str, repo_root: str = REPO_ROOT) -> Tuple[str, ...]:
    folder = os.path.join(repo_root, "configs", "trainers", trainer)
    if not os.path.isdir(folder):
        return ()
    return tuple(sorted(name[:-5] for name in os.listdir(folder) if name.endswith(".yaml")))


def split_cfg(trainer: str, cfg: str) -> Tuple[str, str]:
    """(the method yaml a config folder was made from, what the run appended to its name).

    ``vit_b16_ep5`` -> (``vit_b16_ep5``, ``""``); ``vit_b16_ep5_noise03`` -> (``vit_b16_ep5``,
    ``"_noise03"``) and ``vit_b16_ep5@ViT-L-14`` -> (``vit_b16_ep5``, ``"@ViT-L-14"``) when
    ``vit_b16_ep5.yaml`` exists; an unknown name is its own yaml with nothing appended.
    """
    known = [name for name in config_names(trainer) if cfg == name or cfg[len(name):len(name) + 1] in ("_", "@")
             and cfg.startswith(name)]
    if not known:
        return cfg, ""
    base = max(known, key=len)
    return base, cfg[len(base):]


def with_tag(cfg: str, tag: str) -> str:
    return cfg + tag


def _swap_cfg(trainer: str, cfg: str, source: str, target: str) -> str:
    """``cfg`` with its yaml replaced by another of the scripts' settings when it is the ``source`` one
    (keeping the tag); unchanged otherwise."""
    settings = script_settings().get(trainer)
    base, tag = split_cfg(trainer, cfg)
    if settings is not None and base == getattr(settings, source):
        return with_tag(getattr(settings, target), tag)
    return cfg


def base2new_host_cfg(trainer: str, cfg: str) -> str:
    """The table config an ImageNet base-to-novel run belongs to (MMA: vit_b16_ep5_imnet -> vit_b16_ep5)."""
    return _swap_cfg(trainer, cfg, "imagenet_cfg", "default_cfg")


def base2new_imagenet_cfg(trainer: str, host_cfg: str) -> str:
    """The config the scripts use for ImageNet in the table of ``host_cfg``."""
    return _swap_cfg(trainer, host_cfg, "default_cfg", "imagenet_cfg")


@dataclass(frozen=True)
class MissingRun:
    """A run a table needs but the output root lacks, and the command that makes it."""

    folder: str
    command: str


def fill_command(
    output_root: str, protocol: str, phase: str, dataset: str, shots: int, trainer: str, cfg: Optional[str],
    seed: int, study: Optional[str] = None,
) -> str:
    """The scripts/ command that writes this run (the scripts skip everything already finished)."""
    settings = script_settings().get(trainer)
    if settings is None:
        return (f"no scripts/<method>/settings.sh names TRAINER={trainer}: run train.py --trainer {trainer} "
                "with that folder as --output-dir")
    base, tag = split_cfg(trainer, cfg) if cfg else ("", "")
    cfg_arg = [base] if base else []
    root = output_root.rstrip("/") or "."
    prefix = "" if (root == "output" and study is None) else f"OUTPUT={shlex.quote(root)} "
    script = f"bash scripts/{settings.folder}/"
    if study is not None:
        args = [study, settings.folder, dataset, str(seed), *cfg_arg]
        command = f"{prefix}bash scripts/attnmma/study.sh {' '.join(args)}"
    elif protocol == "base2new":
        name = "base2new_train.sh" if phase == "train_base" else "base2new_test.sh"
        command = f"{prefix}{script}{name} {' '.join([dataset, str(seed), *cfg_arg])}"
    elif protocol == "xd" and phase == "train":
        command = f"{prefix}{script}xd_train.sh {' '.join([str(seed), *cfg_arg])}"
    elif protocol in ("xd", "dg"):
        command = f"{prefix}{script}xd_test.sh {' '.join([dataset, str(seed), *cfg_arg])}"
    else:
        command = f"{prefix}{script}fewshot.sh {' '.join([dataset, str(seed), str(shots), *cfg_arg])}"
    if tag:
        command += f"  # plus the overrides that tagged the config folder '{cfg}'"
    return command


def sweep_hint(repo_root: str = REPO_ROOT) -> List[str]:
    """A line pointing to the sweep tool, when the repository has one."""
    if os.path.isfile(os.path.join(repo_root, "tools", "sweep.py")):
        return ["Or re-run the sweep that made this output root (python tools/sweep.py ...): "
                "it starts only what is missing."]
    return []
