"""A sweep file: which methods, datasets, seeds and protocol, and how to run them.

Example (configs/sweeps/ holds the paper's tables)::

    name: mma_base2new
    protocol: base2new          # base2new | xd | dg | fewshot | study
    methods: [mmadapter, {name: coop, cfg: vit_b16_ctxv1}]
    datasets: [eurosat, dtd]    # default: the protocol's datasets
    seeds: [1, 2, 3]
    extra_opts: DATALOADER.NUM_WORKERS 8
    config_tag: no_shared       # the scripts' CONFIG_TAG: folder <cfg>_<tag> of runs whose extra_opts
                                # can change the numbers (default: a hash of those options)
    backbone: ViT-L-14:datacomp_xl_s13b_b90k   # the scripts' BACKBONE (default: the configs' CLIP)
    gpus_per_run: 2             # each run is a torchrun on 2 GPUs (default 1: a plain train.py)
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import yaml

from .errors import SweepError

PROTOCOLS = ("base2new", "xd", "dg", "fewshot", "study")
BASE2NEW_DATASETS = ["caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101", "fgvc_aircraft",
                     "sun397", "dtd", "eurosat", "ucf101", "imagenet"]
XD_TARGETS = BASE2NEW_DATASETS[:-1]
DG_TARGETS = ["imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"]
STUDY_DATASETS = ["fgvc_aircraft", "caltech101", "oxford_flowers", "oxford_pets"]
DEFAULT_DATASETS = {"base2new": BASE2NEW_DATASETS, "xd": XD_TARGETS + DG_TARGETS, "dg": DG_TARGETS,
                    "fewshot": BASE2NEW_DATASETS, "study": STUDY_DATASETS}
KNOWN_KEYS = {"name", "protocol", "methods", "datasets", "seeds", "shots", "study", "settings", "typo_kind",
              "extra_opts", "config_tag", "backbone", "gpus_per_run", "data", "output", "local", "slurm"}


@dataclass(frozen=True)
class MethodChoice:
    """A folder of scripts/ and, optionally, the config every run of it uses (the scripts' CFG)."""

    name: str
    cfg: Optional[str] = None


@dataclass
class SweepSpec:
    name: str
    protocol: str
    methods: List[MethodChoice]
    datasets: List[str]
    seeds: List[int]
    data: str = "data/"
    output: str = "output"
    shots: List[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    study: str = ""
    settings: Optional[List[str]] = None
    typo_kind: str = "swap"
    extra_opts: List[str] = field(default_factory=list)
    config_tag: str = ""
    backbone: str = ""
    gpus_per_run: int = 1
    local: Dict[str, Any] = field(default_factory=dict)
    slurm: Dict[str, Any] = field(default_factory=dict)

    @property
    def output_root(self) -> str:
        """OUTPUT as the scripts use it: without a trailing slash."""
        return self.output.rstrip("/") or "/"


def _words(value: Any, key: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(item, (str, int, float, bool)) for item in value):
        return [str(item) for item in value]
    raise SweepError(f"'{key}' must be a string of space-separated words or a list of them, got {value!r}")


def _ints(value: Any, key: str) -> List[int]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(item, int) and not isinstance(item, bool) for item in values):
        raise SweepError(f"'{key}' must be an integer or a list of integers, got {value!r}")
    return values


def _methods(value: Any) -> List[MethodChoice]:
    if not isinstance(value, list) or not value:
        raise SweepError("'methods' must be a non-empty list of scripts/ folder names (e.g. [mmadapter, coop]) "
                         "or {name: ..., cfg: ...} entries")
    choices = []
    for item in value:
        if isinstance(item, str):
            choices.append(MethodChoice(item))
        elif isinstance(item, dict) and set(item) <= {"name", "cfg"} and isinstance(item.get("name"), str):
            choices.append(MethodChoice(item["name"], None if item.get("cfg") is None else str(item["cfg"])))
        else:
            raise SweepError(f"a 'methods' entry must be a name or {{name: NAME, cfg: CONFIG}}, got {item!r}")
    return choices


def parse_spec(raw: Dict[str, Any], default_name: str) -> SweepSpec:
    """Check a loaded sweep file and fill in the defaults."""
    if not isinstance(raw, dict):
        raise SweepError("a sweep file must be a YAML mapping (protocol:, methods:, seeds:, ...)")
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise SweepError(f"unknown key(s) {unknown} in the sweep file; known keys: {sorted(KNOWN_KEYS)}")
    protocol = raw.get("protocol")
    if protocol not in PROTOCOLS:
        raise SweepError(f"'protocol' must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol == "study" and not raw.get("study"):
        raise SweepError("protocol 'study' needs 'study:' (image_noise, label_noise, class_ratio, imbalance, "
                         "text_noise, heads or prompts)")
    settings = raw.get("settings")
    for key in ("local", "slurm"):
        if not isinstance(raw.get(key, {}), dict):
            raise SweepError(f"'{key}' must be a mapping of back-end options, got {raw[key]!r}")
    return SweepSpec(
        name=str(raw.get("name", default_name)),
        protocol=protocol,
        methods=_methods(raw.get("methods")),
        datasets=_words(raw["datasets"], "datasets") if "datasets" in raw else list(DEFAULT_DATASETS[protocol]),
        seeds=_ints(raw.get("seeds", [1, 2, 3]), "seeds"),
        data=str(raw.get("data", "data/")),
        output=str(raw.get("output", "output")),
        shots=_ints(raw.get("shots", [1, 2, 4, 8, 16]), "shots"),
        study=str(raw.get("study", "")),
        settings=None if settings is None else _words(settings, "settings"),
        typo_kind=str(raw.get("typo_kind", "swap")),
        extra_opts=_words(raw.get("extra_opts"), "extra_opts"),
        config_tag=str(raw.get("config_tag") or ""),
        backbone=str(raw.get("backbone") or ""),
        gpus_per_run=_ints(raw.get("gpus_per_run", 1), "gpus_per_run")[0],
        local=dict(raw.get("local", {})),
        slurm=dict(raw.get("slurm", {})),
    )


def load_spec(path: str, overrides: Tuple[Tuple[str, Any], ...] = ()) -> SweepSpec:
    """Read a sweep file; ``overrides`` replace top-level keys (the command line's --data, --output)."""
    if not osp.isfile(path):
        raise SweepError(f"no sweep file {path!r}; pass a YAML file such as configs/sweeps/mma_base2new.yaml")
    with open(path) as handle:
        try:
            raw = yaml.safe_load(handle) or {}
        except yaml.YAMLError as err:
            raise SweepError(f"{path} is not valid YAML: {err}") from err
    if isinstance(raw, dict):
        raw.update({key: value for key, value in overrides if value is not None})
    return parse_spec(raw, osp.splitext(osp.basename(path))[0])
