"""Expand a sweep file into runs: the folders, train.py arguments and order of scripts/lib.sh.

Each protocol mirrors one entry point of the scripts (docs/REPRODUCE.md): base2new is
run_examples.sh (base2new_train.sh then base2new_test.sh per dataset and seed), xd / dg are
run_xd_dg.sh (xd_train.sh once per seed, then xd_test.sh per target), fewshot is fewshot.sh, and
study is scripts/attnmma/study.sh. tests/test_sweep_grid.py checks the runs against the scripts.
"""
from __future__ import annotations

import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from tools.config_tag import check_tag_record, config_suffix

from .errors import SweepError
from .methods import REPO_ROOT, MethodSettings, read_method
from .runs import Run, TRAIN_PY
from .spec import DG_TARGETS, MethodChoice, SweepSpec

TRAIN_SHOTS = 16
STUDY_METHODS = ("attnmma", "mmadapter", "clip_adapter")
ATTNMMA_ONLY_STUDIES = ("heads", "prompts")
# study.sh's default settings: (setting name, its options) per value
STUDY_DEFAULTS = {
    "image_noise": ["0.0", "0.3"], "label_noise": ["0.0", "0.1", "0.2", "0.3"], "class_ratio": ["1", "3", "4", "5"],
    "imbalance": ["1.0", "2.0", "4.0", "8.0", "16.0"], "text_noise": ["0.0", "0.1", "0.2", "0.3"],
    "heads": ["2", "4", "8", "16"], "prompts": ["single", "ensemble", "learned"],
}


def dataset_yaml(dataset: str) -> str:
    path = osp.join(REPO_ROOT, "configs", "datasets", f"{dataset}.yaml")
    if not osp.isfile(path):
        raise SweepError(f"unknown dataset '{dataset}': no {path}")
    return path


def study_settings(study: str, values: Sequence[str], typo_kind: str) -> List[Tuple[str, List[str]]]:
    """(setting folder, options) of study.sh's run_setting calls, in its order."""
    settings: List[Tuple[str, List[str]]] = []
    for value in values:
        if study == "image_noise":
            settings.append((f"std_{value}", ["INPUT.IMAGE_NOISE_STD", value]))
            if value != "0.0":
                settings.append((f"std_{value}_test_leak", ["INPUT.IMAGE_NOISE_STD", value, "INPUT.IMAGE_NOISE_AT_TEST", "True"]))
        elif study == "label_noise":
            settings.append((f"rate_{value}", ["DATASET.LABEL_NOISE_RATE", value]))
        elif study == "class_ratio":
            if not value.isdigit():
                raise SweepError(f"class_ratio settings must be integers, got '{value}'")
            settings.append(("ratio_1to1", ["DATASET.BASE_NEW_RATIO", "1"]) if value == "1" else
                            (f"ratio_{value}to1", ["DATASET.BASE_NEW_RATIO", value, "DATASET.BASE_ROUNDING", "ceil"]))
        elif study == "imbalance":
            settings.append((f"factor_{value}", ["DATASET.IMBALANCE_FACTOR", value]))
        elif study == "text_noise":
            settings.append((f"typo_{typo_kind}_{value}",
                             ["DATASET.CLASSNAME_TYPO_RATE", value, "DATASET.CLASSNAME_TYPO_KIND", typo_kind]))
        elif study == "heads":
            settings.append((f"heads_{value}", ["TRAINER.ATTNMMA.HEADS", value]))
        elif study == "prompts":
            settings.append((f"prompt_{value}", ["TRAINER.ATTNMMA.PROMPT", value]))
        else:
            raise SweepError(f"unknown study '{study}'; choose {', '.join(STUDY_DEFAULTS)}")
    return settings


class GridBuilder:
    """Builds the runs of one method, with the scripts' variables (OUTPUT, EXTRA_OPTS) at hand."""

    def __init__(self, spec: SweepSpec, method: MethodSettings, choice: MethodChoice, device_opts: Sequence[str]):
        self.spec, self.method, self.choice = spec, method, choice
        # EXTRA_OPTS as lib.sh sees it: what settings.sh added, the user's, then the runner's device option
        self.tagged = (*method.extra_opts, *spec.extra_opts)
        self.extra = [*self.tagged, *device_opts]
        self.backbone_args: Tuple[str, ...] = ()
        # what lib.sh's run_dir appends to <cfg>: the options' tag or hash, then @backbone
        self.cfg_suffix = config_suffix(self.tagged, spec.config_tag)
        if spec.backbone:
            name, _, pretrained = spec.backbone.partition(":")
            self.backbone_args = ("--backbone", name, *(("MODEL.BACKBONE.PRETRAINED", pretrained) if pretrained else ()))
            self.cfg_suffix += "@" + spec.backbone.replace("/", "-").replace(":", ".")

    def run(self, output: str, protocol: str, phase: str, dataset: str, shots: int, cfg: str, seed: int,
            run_opts: Sequence[str], extra: Sequence[str], eval_only: bool = False, model_dir: str = "",
            setting: str = "") -> Run:
        """lib.sh's run_dir and launch: the folder and the argument list of one train.py call."""
        folder = cfg + self.cfg_suffix
        outdir = f"{output}/{protocol}/{phase}/{dataset}/shots_{shots}/{self.method.trainer}/{folder}/seed{seed}"
        head = ("--root", self.spec.data, "--seed", str(seed), "--trainer", self.method.trainer,
                "--dataset-config-file", dataset_yaml(dataset), "--config-file", self.method.method_yaml(cfg),
                "--output-dir", outdir)
        return Run(self.method.name, self.method.trainer, cfg, protocol, phase, dataset, shots, seed, setting,
                   outdir, head, eval_only, model_dir, (*run_opts, *extra), self.backbone_args,
                   self.spec.config_tag, self.tagged)

    def training(self, output: str, protocol: str, phase: str, dataset: str, shots: int, cfg: str, seed: int,
                 run_opts: Sequence[str], extra: Sequence[str], setting: str = "") -> Run:
        """A "train" entry point: with NO_TRAINING it only evaluates."""
        return self.run(output, protocol, phase, dataset, shots, cfg, seed, run_opts, extra,
                        eval_only=self.method.no_training, setting=setting)

    def evaluation(self, output: str, protocol: str, phase: str, dataset: str, shots: int, cfg: str, seed: int,
                   run_opts: Sequence[str], extra: Sequence[str], model: Run, setting: str = "") -> Run:
        """A "test" entry point: load the model ``model`` trained (none with NO_TRAINING)."""
        model_dir = "" if self.method.no_training else model.outdir
        return self.run(output, protocol, phase, dataset, shots, cfg, seed, run_opts, extra,
                        eval_only=True, model_dir=model_dir, setting=setting)

    def base2new_pair(self, output: str, dataset: str, seed: int, cfg: str, extra: Sequence[str],
                      setting: str = "") -> List[Run]:
        train = self.training(output, "base2new", "train_base", dataset, TRAIN_SHOTS, cfg, seed,
                              ["DATASET.NUM_SHOTS", str(TRAIN_SHOTS), "DATASET.SUBSAMPLE_CLASSES", "base"], extra, setting)
        test = self.evaluation(output, "base2new", "test_new", dataset, TRAIN_SHOTS, cfg, seed,
                               ["DATASET.NUM_SHOTS", str(TRAIN_SHOTS), "DATASET.SUBSAMPLE_CLASSES", "new"], extra,
                               train, setting)
        return [train, test]

    def base2new(self) -> List[Run]:
        """run_examples.sh: ImageNet takes IMAGENET_CFG unless a config is given."""
        runs = []
        for seed in self.spec.seeds:
            for dataset in self.spec.datasets:
                cfg = self.choice.cfg or (self.method.imagenet_cfg if dataset == "imagenet" else self.method.default_cfg)
                runs += self.base2new_pair(self.spec.output_root, dataset, seed, cfg, self.extra)
        return runs

    def transfer(self) -> List[Run]:
        """run_xd_dg.sh: train on ImageNet once per seed, then every target (ImageNet variants go to dg/)."""
        runs = []
        cfg = self.choice.cfg or self.method.xd_cfg
        for seed in self.spec.seeds:
            source = self.training(self.spec.output_root, "xd", "train", "imagenet", TRAIN_SHOTS, cfg, seed,
                                   ["DATASET.NUM_SHOTS", str(TRAIN_SHOTS)], self.extra)
            runs.append(source)
            for dataset in self.spec.datasets:
                protocol = "dg" if dataset in DG_TARGETS else "xd"
                runs.append(self.evaluation(self.spec.output_root, protocol, "test", dataset, TRAIN_SHOTS, cfg, seed,
                                            [], self.extra, source))
        return runs

    def fewshot(self) -> List[Run]:
        runs = []
        for seed in self.spec.seeds:
            for dataset in self.spec.datasets:
                for shots in self.spec.shots:
                    cfg = self.choice.cfg or self.method.fewshot_cfgs[(dataset, shots)]
                    runs.append(self.training(self.spec.output_root, "fewshot", "train_all", dataset, shots, cfg, seed,
                                              ["DATASET.NUM_SHOTS", str(shots)], self.extra))
        return runs

    def study(self) -> List[Run]:
        """study.sh for every dataset and seed (run_study.sh's order: datasets, then settings)."""
        spec, study = self.spec, self.spec.study
        if self.method.name not in STUDY_METHODS:
            raise SweepError(f"a study runs with {', '.join(STUDY_METHODS)}, not '{self.method.name}'")
        if study in ATTNMMA_ONLY_STUDIES and self.method.name != "attnmma":
            raise SweepError(f"the {study} study varies a setting of the attention adapter; use the method attnmma")
        settings = study_settings(study, spec.settings or STUDY_DEFAULTS.get(study, []), spec.typo_kind)
        study_root = f"{spec.output_root}/studies/{study}"
        runs = []
        for dataset in spec.datasets:
            default = self.method.imagenet_cfg if dataset == "imagenet" else self.method.default_cfg
            cfg = self.choice.cfg or ("vit_b16_arxiv" if self.method.name == "clip_adapter" else default)
            for seed in spec.seeds:
                if study == "text_noise":
                    runs += self.text_noise(study_root, dataset, seed, cfg, settings)
                    continue
                for name, options in settings:
                    runs += self.base2new_pair(f"{study_root}/{name}", dataset, seed, cfg, [*self.extra, *options], name)
        return runs

    def text_noise(self, study_root: str, dataset: str, seed: int, cfg: str,
                   settings: Sequence[Tuple[str, List[str]]]) -> List[Run]:
        """Train once on clean names, then score that model on base and new classes with typos."""
        clean = self.training(f"{study_root}/clean", "base2new", "train_base", dataset, TRAIN_SHOTS, cfg, seed,
                              ["DATASET.NUM_SHOTS", str(TRAIN_SHOTS), "DATASET.SUBSAMPLE_CLASSES", "base"],
                              self.extra, "clean")
        runs = [clean]
        for name, options in settings:
            for subsample, phase in (("base", "train_base"), ("new", "test_new")):
                runs.append(self.evaluation(f"{study_root}/{name}", "base2new", phase, dataset, TRAIN_SHOTS, cfg, seed,
                                            ["DATASET.NUM_SHOTS", str(TRAIN_SHOTS), "DATASET.SUBSAMPLE_CLASSES", subsample],
                                            [*self.extra, *options], clean, name))
        return runs


def expand(spec: SweepSpec, device_opts: Sequence[str] = ()) -> List[Run]:
    """Every run of the sweep, each training run before the runs that evaluate its model.

    ``device_opts`` is what the runners append for a device (``USE_CUDA False`` on CPU)."""
    for dataset in spec.datasets:
        dataset_yaml(dataset)
    runs: List[Run] = []
    for choice in spec.methods:
        pairs = [(d, k) for d in spec.datasets for k in spec.shots] if spec.protocol == "fewshot" else []
        builder = GridBuilder(spec, read_method(choice.name, spec.output, pairs), choice, device_opts)
        if spec.protocol == "base2new":
            runs += builder.base2new()
        elif spec.protocol in ("xd", "dg"):
            runs += builder.transfer()
        elif spec.protocol == "fewshot":
            runs += builder.fewshot()
        else:
            runs += builder.study()
    runs = unique_runs(runs)
    for run in runs:
        if run.config_tag:
            check_tag_record(run.outdir, run.config_tag, run.tagged_opts)
    return runs


def unique_runs(runs: Sequence[Run]) -> List[Run]:
    """Drop repeats (text_noise trains its clean model once per dataset and seed, whatever the
    settings); two different runs aimed at one folder are an error."""
    by_folder: Dict[str, Run] = {}
    ordered: List[Run] = []
    for run in runs:
        other: Optional[Run] = by_folder.get(run.outdir)
        if other is None:
            by_folder[run.outdir] = run
            ordered.append(run)
        elif other != run:
            raise SweepError(f"two different runs write to {run.outdir}; give the methods different configs")
    return ordered
