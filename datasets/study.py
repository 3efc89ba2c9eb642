"""The study layer: the protocol and robustness options of arXiv 2409.02958, usable by every method.

It is the only code that reads these keys. The dataset readers call its ``study_protocol(cfg)`` at
their three protocol steps (few-shot draw, base/new split, the training set the model sees), and its
transform layer wraps the engine's image pipelines (``dassl.data.transforms.register_transform_layer``).

Config keys (the defaults leave CoOp's pipeline exactly as it is):

- ``DATASET.BASE_NEW_RATIO`` (int, 1) and ``DATASET.BASE_ROUNDING`` ("ceil" | "floor"): base:new class
  ratio r:1 over the N sorted labels. "ceil": base = N - floor(N / (r + 1)) (CoOp's split at 1:1, and
  the reference's code for 3:1 to 5:1); "floor": base = floor(N * r / (r + 1)) (the reference's own 1:1
  split, where new gets the odd class).
- ``DATASET.FEWSHOT_SAMPLER`` ("coop" | "stratified"): "coop" draws K train shots per class from train
  and min(K, 4) from val (``shot_K-seed_S.pkl``); "stratified" draws 2K distinct shots per class from
  train, K to train on and K to validate on, the reference's 16 + 16 (``shot_K-seed_S-stratified.pkl``).
- ``DATASET.IMBALANCE_FACTOR`` (float, 1.0): the i-th of C training classes keeps
  max(1, round(K * factor ** (-i / (C - 1)))) shots (K for the first, K / factor for the last).
- ``DATASET.LABEL_NOISE_RATE`` (float, 0.0): exactly round(rate * n) training items, chosen with SEED,
  get a label drawn uniformly from the other training classes (symmetric flips).
- ``DATASET.CLASSNAME_TYPO_RATE`` (float, 0.0) and ``DATASET.CLASSNAME_TYPO_KIND`` ("swap" | "typo"):
  round(rate * letters) typos per class name (adjacent swaps; or a random swap, deletion, insertion or
  substitution each), seeded by SEED and the name. Meant for evaluation runs: noisy text at test time.
- ``INPUT.IMAGE_NOISE_STD`` (float, 0.0): N(0, std^2) added to every normalised training image (the
  reference uses 0.3); ``INPUT.IMAGE_NOISE_AT_TEST`` (False) adds it to val/test images as well, which is
  the reference's leak; ``INPUT.TRAIN_USE_TEST_TRANSFORM`` (False) sends training images through the test
  pipeline (resize, centre crop), as the reference does. Applied by this module's transform layer.

Imbalance and label noise are applied to the training set the model sees (after the base/new
subsampling, so flips never reach the held-out classes), derived from the few-shot draw; the result is
saved under its own name in ``split_fewshot/``. ``shot_K-seed_S.pkl``, which other code bases read too,
only ever holds CoOp's own draw. Val and test keep their clean labels.
"""
from __future__ import annotations

import os
from typing import Any, List, Optional, Tuple

import torchvision.transforms as T

from dassl.data.datasets import Datum
from dassl.data.transforms import TransformLayer, register_transform_layer
from dassl.data.transforms.custom import GaussianNoise
from dassl.utils.errors import ConfigValueError

from .derived_files import DerivedFiles, fewshot_splits, splits_problem
from .splits import subsample_classes
from .study_rules import (
    TYPO_KINDS,
    base_class_count,
    check_sampler,
    flip_labels,
    make_imbalanced,
    noisy_classnames,
    stratified_fewshot,
)


DATASET_DEFAULTS = {
    "BASE_NEW_RATIO": 1,
    "BASE_ROUNDING": "ceil",
    "FEWSHOT_SAMPLER": "coop",
    "IMBALANCE_FACTOR": 1.0,
    "LABEL_NOISE_RATE": 0.0,
    "CLASSNAME_TYPO_RATE": 0.0,
    "CLASSNAME_TYPO_KIND": "swap",
}
INPUT_DEFAULTS = {"IMAGE_NOISE_STD": 0.0, "IMAGE_NOISE_AT_TEST": False, "TRAIN_USE_TEST_TRANSFORM": False}


def extend_cfg(cfg) -> None:
    """Declare the study options (see the module docstring)."""
    for key, value in DATASET_DEFAULTS.items():
        setattr(cfg.DATASET, key, value)
    for key, value in INPUT_DEFAULTS.items():
        setattr(cfg.INPUT, key, value)


def option(cfg, key: str):
    """``DATASET.<key>``, or its default for a config built without these options (plain Dassl)."""
    return cfg.DATASET.get(key, DATASET_DEFAULTS[key])


def input_option(cfg, key: str):
    """``INPUT.<key>``, or its default for a config built without these options."""
    return cfg.INPUT.get(key, INPUT_DEFAULTS[key])


def fewshot_sampler(cfg) -> str:
    return option(cfg, "FEWSHOT_SAMPLER")


def class_split(cfg) -> dict:
    """The base:new keyword arguments of ``subsample_classes``."""
    return {"ratio": option(cfg, "BASE_NEW_RATIO"), "rounding": option(cfg, "BASE_ROUNDING")}


def check_study_options(cfg) -> None:
    """Reject out-of-range values of the options applied after sampling, naming key, value and range."""
    factor, rate = option(cfg, "IMBALANCE_FACTOR"), option(cfg, "LABEL_NOISE_RATE")
    typo_rate, typo_kind = option(cfg, "CLASSNAME_TYPO_RATE"), option(cfg, "CLASSNAME_TYPO_KIND")
    noise_std = input_option(cfg, "IMAGE_NOISE_STD")
    problems = []
    if factor < 1.0:
        problems.append(f"DATASET.IMBALANCE_FACTOR is {factor}; use 1.0 (balanced) or more")
    if not 0.0 <= rate < 1.0:
        problems.append(f"DATASET.LABEL_NOISE_RATE is {rate}; use a fraction in [0, 1)")
    if not 0.0 <= typo_rate <= 1.0:
        problems.append(f"DATASET.CLASSNAME_TYPO_RATE is {typo_rate}; use a fraction in [0, 1]")
    if typo_kind not in TYPO_KINDS:
        problems.append(f"DATASET.CLASSNAME_TYPO_KIND is {typo_kind!r}; use one of {', '.join(TYPO_KINDS)}")
    if noise_std < 0.0:
        problems.append(f"INPUT.IMAGE_NOISE_STD is {noise_std}; use 0.0 (off) or a positive std")
    if problems:
        raise ConfigValueError("Invalid data options: " + "; ".join(problems) + ".")


def derived_split_name(cfg) -> str:
    """The file of an imbalanced / label-noisy training set: everything that decides its content."""
    sampler = fewshot_sampler(cfg)
    sampler = "" if sampler == "coop" else f"-{sampler}"
    split = class_split(cfg)
    classes = f"{cfg.DATASET.SUBSAMPLE_CLASSES}_{split['ratio']}to1_{split['rounding']}"
    options = f"imbalance_{option(cfg, 'IMBALANCE_FACTOR'):g}-labelnoise_{option(cfg, 'LABEL_NOISE_RATE'):g}"
    name = f"shot_{cfg.DATASET.NUM_SHOTS}-seed_{cfg.SEED}{sampler}-{classes}-{options}.pkl"
    return os.path.join("split_fewshot", name)


def _derive_train(cfg, train: List[Datum]) -> List[Datum]:
    factor, rate = option(cfg, "IMBALANCE_FACTOR"), option(cfg, "LABEL_NOISE_RATE")
    if factor > 1.0:
        train = make_imbalanced(train, factor)
        print(f"Class imbalance (factor {factor:g}): {len(train):,} training images")
    if rate > 0.0:
        train = flip_labels(train, rate, cfg.SEED)
        print(f"Label noise: {round(rate * len(train)):,} of {len(train):,} training labels flipped")
    return train


def _training_set(cfg, files: DerivedFiles, train: List[Datum]) -> List[Datum]:
    """The imbalanced / label-noisy training set, from its own cache file when it exists."""
    if option(cfg, "IMBALANCE_FACTOR") == 1.0 and option(cfg, "LABEL_NOISE_RATE") == 0.0:
        return train
    if cfg.DATASET.NUM_SHOTS < 1:
        return _derive_train(cfg, train)
    relative = derived_split_name(cfg)
    found = files.load_pickle(relative, lambda obj: splits_problem(obj, ("train",)))
    if found is not None:
        data, path = found
        print(f"Loading the derived training set from {path}")
        return data["train"]
    train = _derive_train(cfg, train)
    path = files.write_pickle(relative, {"train": train}, "derived training set")
    if path:
        print(f"Saving the derived training set to {path}")
    return train


def _rename_classes(cfg, *splits: Optional[List[Datum]]) -> List[Optional[List[Datum]]]:
    rate, kind = option(cfg, "CLASSNAME_TYPO_RATE"), option(cfg, "CLASSNAME_TYPO_KIND")
    names = sorted({item.classname for split in splits if split for item in split})
    noisy = dict(zip(names, noisy_classnames(names, rate, kind, cfg.SEED)))
    print(f"Class names with typos ({kind}, rate {rate:g}), e.g. "
          + ", ".join(f"{old!r} -> {noisy[old]!r}" for old in names[:3]))
    return [
        None if split is None else [
            Datum(impath=item.impath, label=item.label, domain=item.domain, classname=noisy[item.classname])
            for item in split
        ]
        for split in splits
    ]


def apply_study_options(cfg, files: DerivedFiles, train: List[Datum], val: Optional[List[Datum]],
                        test: List[Datum]) -> Tuple[List[Datum], Optional[List[Datum]], List[Datum]]:
    """The readers' last step, after few-shot sampling and base/new subsampling."""
    check_study_options(cfg)
    train = _training_set(cfg, files, train)
    if option(cfg, "CLASSNAME_TYPO_RATE") > 0.0:
        train, val, test = _rename_classes(cfg, train, val, test)
    return train, val, test


class StudyProtocol:
    """The protocol steps of a dataset reader under ``cfg``'s study options (CoOp's with the defaults)."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def fewshot(self, reader: Any, files: DerivedFiles, train: List[Datum],
                val: Optional[List[Datum]] = None) -> Tuple[List[Datum], Optional[List[Datum]]]:
        """The K-shot draw: CoOp's (``coop``), or K train + K val shots per class from train (``stratified``)."""
        cfg = self.cfg
        sampler = fewshot_sampler(cfg)
        check_sampler(sampler)
        if sampler == "stratified" and cfg.DATASET.NUM_SHOTS >= 1:
            return stratified_splits(files, cfg.DATASET.NUM_SHOTS, cfg.SEED, train)
        return fewshot_splits(reader, files, cfg.DATASET.NUM_SHOTS, cfg.SEED, train, val)

    def subsample(self, *splits: List[Datum]) -> List[List[Datum]]:
        """DATASET.SUBSAMPLE_CLASSES with the base:new ratio and rounding of the study."""
        split = class_split(self.cfg)
        return subsample_classes(
            *splits, subsample=self.cfg.DATASET.SUBSAMPLE_CLASSES,
            base_count=lambda n: base_class_count(n, split["ratio"], split["rounding"]),
        )

    def finish(self, files: DerivedFiles, train: List[Datum], val: Optional[List[Datum]],
               test: List[Datum]) -> Tuple[List[Datum], Optional[List[Datum]], List[Datum]]:
        """The readers' last step: imbalance, label noise and class-name typos."""
        return apply_study_options(self.cfg, files, train, val, test)


def study_protocol(cfg) -> StudyProtocol:
    return StudyProtocol(cfg)


def stratified_splits(files: DerivedFiles, num_shots: int, seed: int, train: list) -> Tuple[list, list]:
    """``shot_K-seed_S-stratified.pkl``, or a fresh stratified draw saved there."""
    relative = os.path.join("split_fewshot", f"shot_{num_shots}-seed_{seed}-stratified.pkl")
    found = files.load_pickle(relative, lambda obj: splits_problem(obj, ("train", "val")))
    if found is not None:
        data, path = found
        print(f"Loading preprocessed few-shot data from {path}")
        return data["train"], data["val"]
    print(f"Creating a {num_shots}+{num_shots}-shot stratified train/val draw from train")
    train, val = stratified_fewshot(train, num_shots)
    path = files.write_pickle(relative, {"train": train, "val": val}, "few-shot split")
    if path:
        print(f"Saving preprocessed few-shot data to {path}")
    return train, val


def _study_pipeline(cfg, is_train: bool, inner) -> T.Compose:
    """TRAIN_USE_TEST_TRANSFORM picks the test pipeline for training; IMAGE_NOISE_STD adds N(0, std^2)
    to every normalised training image, and to evaluation images only with IMAGE_NOISE_AT_TEST."""
    use_test = is_train and input_option(cfg, "TRAIN_USE_TEST_TRANSFORM")
    if use_test:
        print("Training images go through the test pipeline (INPUT.TRAIN_USE_TEST_TRANSFORM)")
    tfm = inner(is_train and not use_test)
    std = input_option(cfg, "IMAGE_NOISE_STD")
    if std <= 0 or not (is_train or input_option(cfg, "IMAGE_NOISE_AT_TEST")):
        return tfm
    print(f"+ gaussian noise on every image (std={std})")
    return T.Compose([*tfm.transforms, GaussianNoise(0.0, std, p=1.0)])


def _noisy_test_images(cfg) -> bool:
    return input_option(cfg, "IMAGE_NOISE_STD") > 0 and input_option(cfg, "IMAGE_NOISE_AT_TEST")


register_transform_layer(TransformLayer("the image-noise study (INPUT.IMAGE_NOISE_AT_TEST)", _study_pipeline, _noisy_test_images))
