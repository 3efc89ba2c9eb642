"""The 15 readers on the fake copies: class counts, base/new relabelling, names, few-shot sampling."""
import json
import math
import random
from collections import defaultdict

import pytest

from datasets_helpers import FOLDERS, impaths, linked_copy, load, per_label

# Base/new class counts: the first ceil(n/2) classes are base (CoOp's subsample_classes), per dataset.
BASE_NEW = {
    "ImageNet": (500, 500), "Caltech101": (50, 50), "OxfordPets": (19, 18), "StanfordCars": (98, 98),
    "OxfordFlowers": (51, 51), "Food101": (51, 50), "FGVCAircraft": (50, 50), "SUN397": (199, 198),
    "DescribableTextures": (24, 23), "EuroSAT": (5, 5), "UCF101": (51, 50),
}
TEST_ONLY = {"ImageNetV2": 1000, "ImageNetSketch": 1000, "ImageNetA": 200, "ImageNetR": 200}
EUROSAT_NAMES = [
    "Annual Crop Land", "Forest", "Herbaceous Vegetation Land", "Highway or Road", "Industrial Buildings",
    "Pasture Land", "Permanent Crop Land", "Residential Buildings", "River", "Sea or Lake",
]


@pytest.fixture(scope="module")
def root(fake_data_root, tmp_path_factory):
    """All 15 fake datasets, linked into a fresh root so caches written here stay private to this module."""
    root = tmp_path_factory.mktemp("readers")
    for name in FOLDERS:
        linked_copy(fake_data_root, root, name)
    return root


@pytest.mark.parametrize("name", sorted(BASE_NEW))
def test_base_and_new_classes_are_relabelled_halves_of_all(root, name):
    full, _ = load(root, name)
    n_base, n_new = BASE_NEW[name]
    assert full.num_classes == n_base + n_new == len(full.classnames)
    assert full.num_classes == math.ceil(full.num_classes / 2) + n_new
    for subsample, offset, count in (("base", 0, n_base), ("new", n_base, n_new)):
        part, printed = load(root, name, subsample=subsample)
        assert f"SUBSAMPLE {subsample.upper()} CLASSES!" in printed
        assert part.num_classes == count
        assert part.classnames == full.classnames[offset:offset + count]
        for split in (part.train_x, part.val, part.test):
            assert sorted(per_label(split)) == list(range(count))
        expected = {p: label - offset for p, label in ((i.impath, i.label) for i in full.test)
                    if offset <= label < offset + count}
        assert {item.impath: item.label for item in part.test} == expected


@pytest.mark.parametrize("name", sorted(BASE_NEW))
def test_few_shot_counts_per_class(root, name):
    full, _ = load(root, name)
    available_train, available_val = per_label(full.train_x), per_label(full.val)
    for shots in (1, 2, 4):
        few, _ = load(root, name, shots=shots, subsample="base")
        n_base = BASE_NEW[name][0]
        assert few.num_classes == n_base
        assert per_label(few.train_x) == {y: min(shots, available_train[y]) for y in range(n_base)}
        if name != "ImageNet":
            assert per_label(few.val) == {y: min(shots, 4, available_val[y]) for y in range(n_base)}
        assert len(few.test) == len([i for i in full.test if i.label < n_base])


def test_few_shot_draw_matches_coop_order(root):
    """Seeded random.sample per label (first-appearance order) over train, then over val with min(K, 4)."""
    split = json.loads((root / "dtd" / "split_zhou_DescribableTextures.json").read_text())
    image_dir = root / "dtd" / "images"
    random.seed(3)
    expected = []
    for part, k in (("train", 2), ("val", 2)):
        groups = defaultdict(list)
        for rel, label, _ in split[part]:
            groups[label].append(str(image_dir / rel))
        expected.append(tuple(p for items in groups.values() for p in (random.sample(items, k) if len(items) >= k else items)))
    few, printed = load(root, "DescribableTextures", shots=2, seed=3)
    assert (impaths(few.train_x), impaths(few.val)) == tuple(expected)
    assert "Saving preprocessed few-shot data to" in printed


@pytest.mark.parametrize("name", sorted(TEST_ONLY))
def test_imagenet_variants_are_test_only_and_ignore_shots_and_subsampling(root, name):
    data, _ = load(root, name, shots=2, subsample="base")
    assert data.num_classes == TEST_ONLY[name]
    assert data.val is None
    assert data.train_x is data.test
    assert sorted(per_label(data.test)) == list(range(TEST_ONLY[name]))


def test_imagenet_a_and_r_keep_their_200_classes_with_imagenet_names(root):
    names = {}
    for line in (root / "imagenet" / "classnames.txt").read_text().splitlines():
        wnid, name = line.split(" ", 1)
        names[wnid] = name
    for reader, folder in (("ImageNetA", "imagenet-adversarial/imagenet-a"), ("ImageNetR", "imagenet-rendition/imagenet-r")):
        data, _ = load(root, reader)
        wnids = sorted(p.name for p in (root / folder).iterdir() if p.is_dir())
        assert data.classnames == [names[w] for w in wnids]


def test_imagenet_val_is_the_test_set(root):
    data, _ = load(root, "ImageNet")
    assert data.val is data.test
    assert data.classnames[:3] == ["tench", "goldfish", "great white shark"]
    assert (root / "imagenet" / "preprocessed.pkl").is_file()


def test_class_names_follow_the_rename_rules(root):
    caltech, _ = load(root, "Caltech101")
    assert caltech.classnames[:3] == ["face", "leopard", "motorbike"]
    assert "airplane" in caltech.classnames and "airplanes" not in caltech.classnames
    assert not {"BACKGROUND_Google", "Faces_easy", "Faces"} & set(caltech.classnames)
    assert load(root, "EuroSAT")[0].classnames == EUROSAT_NAMES
    pets = load(root, "OxfordPets")[0].classnames
    assert pets[:3] == ["abyssinian", "american_bulldog", "american_pit_bull_terrier"]
    assert "great_pyrenees" in pets and "maine_coon" in pets
    assert load(root, "StanfordCars")[0].classnames[0] == "2000 AM General Hummer SUV"
    sun = load(root, "SUN397")[0].classnames
    assert sun[:2] == ["abbey", "outdoor apartment_building"]
    ucf = load(root, "UCF101")[0].classnames
    assert ucf[0] == "Apply_Eye_Makeup" and ucf[-1] == "Yo_Yo" and "Push_Ups" in ucf
    assert load(root, "FGVCAircraft")[0].classnames[0] == "707 0"
    assert load(root, "DescribableTextures")[0].classnames[30] == "polka-dotted"
