"""The study data options (datasets/study.py): class ratios, samplers, label noise, imbalance,
noisy class names and image noise, through the real readers and transforms on fake data."""
import contextlib
import io
import pickle
import random
from collections import Counter

import pytest
import torch
from PIL import Image

import datasets
from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY, Datum
from dassl.data.transforms import build_transform
from dassl.utils import set_random_seed
from datasets.study_rules import (
    base_class_count,
    flip_labels,
    imbalanced_shots,
    make_imbalanced,
    noisy_classname,
    noisy_classnames,
)
from tests.datasets_helpers import linked_copy


def make_cfg(root, name="EuroSAT", shots=2, subsample="all", seed=1, **options):
    cfg = get_cfg_default()
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    datasets.extend_cfg(cfg)
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = name
    cfg.DATASET.NUM_SHOTS = shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = seed
    cfg.OUTPUT_DIR = str(root / "output")
    for key, value in options.items():
        node, leaf = key.split("__")
        setattr(getattr(cfg, node), leaf, value)
    return cfg


def build(cfg):
    set_random_seed(cfg.SEED)
    with contextlib.redirect_stdout(io.StringIO()):
        return DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)


@pytest.fixture
def root(fake_data_root, tmp_path):
    for name in ("EuroSAT", "OxfordPets", "Caltech101"):
        linked_copy(fake_data_root, tmp_path, name)
    return tmp_path


def items(n_per_class, n_classes, tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"")
    return [Datum(str(path), label=c, classname=f"class{c}") for c in range(n_classes) for _ in range(n_per_class)]


@pytest.mark.parametrize(
    "n, ratio, ceil_base, floor_base",
    [
        (37, 1, 19, 18),  # OxfordPets: CoOp 19/18, the reference 18/19
        (37, 3, 28, 27),
        (37, 4, 30, 29),
        (37, 5, 31, 30),
        (100, 1, 50, 50),
        (100, 3, 75, 75),
        (100, 4, 80, 80),
        (100, 5, 84, 83),
        (47, 4, 38, 37),  # DTD
    ],
)
def test_base_class_counts(n, ratio, ceil_base, floor_base):
    assert base_class_count(n, ratio, "ceil") == ceil_base == n - n // (ratio + 1)
    assert base_class_count(n, ratio, "floor") == floor_base


@pytest.mark.parametrize(
    "args, message",
    [
        ((10, 0, "ceil"), "DATASET.BASE_NEW_RATIO is 0"),
        ((10, 1, "round"), "DATASET.BASE_ROUNDING is 'round'; use one of ceil, floor"),
        ((2, 5, "ceil"), "leaves 2 base and 0 new classes out of 2"),
    ],
)
def test_bad_class_split_is_named(args, message):
    with pytest.raises(ValueError) as err:
        base_class_count(*args)
    assert message in str(err.value)


@pytest.mark.parametrize("ratio, rounding, base, new", [(1, "ceil", 19, 18), (1, "floor", 18, 19), (3, "ceil", 28, 9)])
def test_reader_splits_classes_by_ratio(root, ratio, rounding, base, new):
    opts = dict(DATASET__BASE_NEW_RATIO=ratio, DATASET__BASE_ROUNDING=rounding)
    base_set = build(make_cfg(root, "OxfordPets", subsample="base", **opts))
    new_set = build(make_cfg(root, "OxfordPets", subsample="new", **opts))
    everything = build(make_cfg(root, "OxfordPets"))
    assert (base_set.num_classes, new_set.num_classes) == (base, new)
    assert base_set.classnames == everything.classnames[:base]
    assert new_set.classnames == everything.classnames[base:]
    assert {d.label for d in new_set.test} == set(range(new))


def test_stratified_sampler_draws_disjoint_train_and_val_from_train(root):
    cfg = make_cfg(root, shots=1, DATASET__FEWSHOT_SAMPLER="stratified")
    data = build(cfg)
    full = build(make_cfg(root, shots=-1))
    full_train = {d.impath for d in full.train_x}
    assert Counter(d.label for d in data.train_x) == Counter({c: 1 for c in range(10)})
    assert Counter(d.label for d in data.val) == Counter({c: 1 for c in range(10)})
    assert {d.impath for d in data.train_x} <= full_train and {d.impath for d in data.val} <= full_train
    assert not {d.impath for d in data.train_x} & {d.impath for d in data.val}
    fewshot_dir = root / "eurosat" / "split_fewshot"
    assert (fewshot_dir / "shot_1-seed_1-stratified.pkl").is_file()
    assert not (fewshot_dir / "shot_1-seed_1.pkl").exists()
    again = build(cfg)
    assert [d.impath for d in again.train_x] == [d.impath for d in data.train_x]


def test_flip_labels_exact_count_and_deterministic(tmp_path):
    data = items(4, 5, tmp_path)
    noisy = flip_labels(data, 0.3, seed=7)
    changed = [i for i, (a, b) in enumerate(zip(data, noisy)) if a.label != b.label]
    assert len(changed) == round(0.3 * 20) == 6
    assert all(noisy[i].classname == f"class{noisy[i].label}" for i in changed)
    assert [d.label for d in flip_labels(data, 0.3, seed=7)] == [d.label for d in noisy]
    assert [d.label for d in flip_labels(data, 0.3, seed=8)] != [d.label for d in noisy]
    assert flip_labels(data, 0.0, seed=7) == data


def test_label_noise_keeps_the_shared_cache_clean(root):
    clean = build(make_cfg(root, shots=2, subsample="base"))
    shared = root / "eurosat" / "split_fewshot" / "shot_2-seed_1.pkl"
    before = shared.read_bytes()
    cfg = make_cfg(root, shots=2, subsample="base", DATASET__LABEL_NOISE_RATE=0.5)
    noisy = build(cfg)
    assert shared.read_bytes() == before
    derived = root / "eurosat" / "split_fewshot" / "shot_2-seed_1-base_1to1_ceil-imbalance_1-labelnoise_0.5.pkl"
    with open(derived, "rb") as handle:
        stored = pickle.load(handle)["train"]
    assert [d.label for d in stored] == [d.label for d in noisy.train_x]
    flipped = sum(a.label != b.label for a, b in zip(clean.train_x, noisy.train_x))
    assert flipped == 5 and len(noisy.train_x) == 10
    assert [a.impath for a in clean.train_x] == [b.impath for b in noisy.train_x]
    assert {d.label for d in noisy.train_x} <= set(range(5))  # flips stay among the base classes
    assert [d.label for d in noisy.val] == [d.label for d in clean.val]
    assert [d.label for d in build(cfg).train_x] == [d.label for d in noisy.train_x]


def test_imbalanced_shots_decay_geometrically():
    # 16 * 10 ** (-i / 4) = 16, 9.0, 5.06, 2.85, 1.6
    assert imbalanced_shots(16, 5, 10.0) == [16, 9, 5, 3, 2]
    assert imbalanced_shots(16, 3, 1.0) == [16, 16, 16]
    assert imbalanced_shots(4, 2, 100.0) == [4, 1]


def test_imbalance_through_the_reader(root, tmp_path):
    data = build(make_cfg(root, shots=2, subsample="base", DATASET__IMBALANCE_FACTOR=2.0))
    # 5 base classes, 2 shots: 2 * 2 ** (-i / 4) -> 2, 2, 1, 1, 1
    assert Counter(d.label for d in data.train_x) == Counter({0: 2, 1: 2, 2: 1, 3: 1, 4: 1})
    assert (root / "eurosat" / "split_fewshot" / "shot_2-seed_1-base_1to1_ceil-imbalance_2-labelnoise_0.pkl").is_file()
    kept = make_imbalanced(items(3, 3, tmp_path), 3.0)
    assert Counter(d.label for d in kept) == Counter({0: 3, 1: 2, 2: 1})


def test_noisy_class_names():
    rng = random.Random(0)
    assert noisy_classname("golden retriever", 0.0, "swap", rng) == "golden retriever"
    swapped = noisy_classname("annual crop land", 0.15, "swap", random.Random(1))
    assert swapped != "annual crop land" and sorted(swapped) == sorted("annual crop land")
    typo = noisy_classnames(["forest", "highway"], 0.5, "typo", seed=3)
    assert typo == noisy_classnames(["forest", "highway"], 0.5, "typo", seed=3)
    assert typo != ["forest", "highway"]
    assert noisy_classnames(["highway"], 0.5, "typo", seed=3) == typo[1:]


def test_noisy_class_names_through_the_reader(root):
    clean = build(make_cfg(root, shots=2, subsample="new"))
    noisy = build(make_cfg(root, shots=2, subsample="new", DATASET__CLASSNAME_TYPO_RATE=0.2))
    assert noisy.classnames != clean.classnames
    assert noisy.classnames == noisy_classnames(clean.classnames, 0.2, "swap", seed=1)
    test_names = {d.label: d.classname for d in noisy.test}
    assert [test_names[label] for label in sorted(test_names)] == noisy.classnames


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(DATASET__LABEL_NOISE_RATE=1.0), "DATASET.LABEL_NOISE_RATE is 1.0; use a fraction in [0, 1)"),
        (dict(DATASET__IMBALANCE_FACTOR=0.5), "DATASET.IMBALANCE_FACTOR is 0.5"),
        (dict(DATASET__CLASSNAME_TYPO_KIND="drop"), "DATASET.CLASSNAME_TYPO_KIND is 'drop'"),
        (dict(INPUT__IMAGE_NOISE_STD=-0.1), "INPUT.IMAGE_NOISE_STD is -0.1"),
        (dict(DATASET__FEWSHOT_SAMPLER="kmeans"), "DATASET.FEWSHOT_SAMPLER is 'kmeans'; use one of coop, stratified"),
    ],
)
def test_bad_options_are_named(root, options, message):
    with pytest.raises(ValueError) as err:
        build(make_cfg(root, **options))
    assert message in str(err.value)


def transform_cfg(**options):
    cfg = get_cfg_default()
    datasets.extend_cfg(cfg)
    cfg.INPUT.SIZE = (32, 32)
    cfg.INPUT.TRANSFORMS = ("normalize",)
    for key, value in options.items():
        setattr(cfg.INPUT, key, value)
    return cfg


def apply(cfg, is_train, image):
    with contextlib.redirect_stdout(io.StringIO()):
        return build_transform(cfg, is_train=is_train)(image)


def test_image_noise_is_train_only_unless_asked():
    image = Image.new("RGB", (40, 36), (120, 60, 200))
    clean_test = apply(transform_cfg(TRAIN_USE_TEST_TRANSFORM=True), False, image)
    clean_train = apply(transform_cfg(TRAIN_USE_TEST_TRANSFORM=True), True, image)
    torch.testing.assert_close(clean_train, clean_test)  # training through the test pipeline

    torch.manual_seed(0)
    noisy_cfg = transform_cfg(TRAIN_USE_TEST_TRANSFORM=True, IMAGE_NOISE_STD=0.3)
    noisy_train = apply(noisy_cfg, True, image)
    assert abs((noisy_train - clean_test).std().item() - 0.3) < 0.02
    torch.testing.assert_close(apply(noisy_cfg, False, image), clean_test)

    leak_cfg = transform_cfg(TRAIN_USE_TEST_TRANSFORM=True, IMAGE_NOISE_STD=0.3, IMAGE_NOISE_AT_TEST=True)
    assert abs((apply(leak_cfg, False, image) - clean_test).std().item() - 0.3) < 0.02
