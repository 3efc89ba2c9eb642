"""Without a split JSON the readers build the split from the raw annotation files and save it."""
import json
import os
import random
from collections import defaultdict

import pytest

from datasets_helpers import FOLDERS, impaths, linked_copy, load, per_label

WITH_JSON = sorted(name for name, (_, split_file) in FOLDERS.items() if split_file)
TRAINVAL_80_20 = {"OxfordPets", "StanfordCars", "SUN397", "UCF101"}


@pytest.mark.parametrize("name", WITH_JSON)
def test_split_built_from_annotations_matches_the_released_format(fake_data_root, tmp_path, name):
    split_file = FOLDERS[name][1]
    from_json, _ = load(fake_data_root, name, output_dir=tmp_path / "out")
    first = linked_copy(fake_data_root, tmp_path / "a", name, drop=[split_file])
    built, printed = load(tmp_path / "a", name)
    assert "No split file at" in printed
    assert ("Splitting trainval into 80% train and 20% val" in printed) == (name in TRAINVAL_80_20)

    assert built.classnames == from_json.classnames
    for ours, released in ((built.train_x, from_json.train_x), (built.val, from_json.val), (built.test, from_json.test)):
        assert per_label(ours) == per_label(released)
    all_ours = {(i.impath.split(FOLDERS[name][0] + "/", 1)[1], i.label) for s in (built.train_x, built.val, built.test) for i in s}
    all_released = {(i.impath.split(FOLDERS[name][0] + "/", 1)[1], i.label) for s in (from_json.train_x, from_json.val, from_json.test) for i in s}
    assert all_ours == all_released

    written = json.loads((first / split_file).read_text())
    assert set(written) == {"train", "val", "test"}
    rel, label, classname = written["test"][0]
    assert not rel.startswith("/") and isinstance(label, int) and classname in built.classnames

    again, printed = load(tmp_path / "a", name)
    assert f"Reading split from {first / split_file}" in printed
    assert impaths(again.train_x) == impaths(built.train_x)

    linked_copy(fake_data_root, tmp_path / "b", name, drop=[split_file])
    load(tmp_path / "b", name)
    assert json.loads((tmp_path / "b" / FOLDERS[name][0] / split_file).read_text()) == written


def test_fgvc_aircraft_always_reads_the_official_split_files(fake_data_root, tmp_path):
    data, printed = load(fake_data_root, "FGVCAircraft", output_dir=tmp_path)
    lines = (fake_data_root / "fgvc_aircraft" / "images_variant_val.txt").read_text().splitlines()
    assert [i.impath.rsplit("/", 1)[1] for i in data.val] == [line.split(" ")[0] + ".jpg" for line in lines]
    assert [i.classname for i in data.val] == [line.split(" ", 1)[1] for line in lines]
    assert "Reading split" not in printed


def test_class_folder_split_follows_coop_draw_order(fake_data_root, tmp_path):
    """Sorted folders; per folder: directory order, random.shuffle, round(50%) / round(20%) / rest."""
    linked_copy(fake_data_root, tmp_path, "EuroSAT", drop=["split_zhou_EuroSAT.json"])
    image_dir = tmp_path / "eurosat" / "2750"
    random.seed(7)
    expected = {"train": [], "val": [], "test": []}
    for folder in sorted(os.listdir(image_dir)):
        images = [str(image_dir / folder / name) for name in os.listdir(image_dir / folder)]
        random.shuffle(images)
        n_train, n_val = round(len(images) * 0.5), round(len(images) * 0.2)
        expected["train"] += images[:n_train]
        expected["val"] += images[n_train:n_train + n_val]
        expected["test"] += images[n_train + n_val:]
    data, _ = load(tmp_path, "EuroSAT", seed=7)
    assert {"train": list(impaths(data.train_x)), "val": list(impaths(data.val)), "test": list(impaths(data.test))} == expected


def test_trainval_split_follows_coop_draw_order(fake_data_root, tmp_path):
    """Per label in first-appearance order: random.shuffle the indices, the first round(20%) go to val."""
    linked_copy(fake_data_root, tmp_path, "OxfordPets", drop=["split_zhou_OxfordPets.json"])
    lines = (tmp_path / "oxford_pets" / "annotations" / "trainval.txt").read_text().splitlines()
    paths = [str(tmp_path / "oxford_pets" / "images" / (line.split(" ")[0] + ".jpg")) for line in lines]
    by_label = defaultdict(list)
    for index, line in enumerate(lines):
        by_label[int(line.split(" ")[1])].append(index)
    random.seed(11)
    train, val = [], []
    for indices in by_label.values():
        n_val = round(len(indices) * 0.2)
        random.shuffle(indices)
        val += [paths[i] for i in indices[:n_val]]
        train += [paths[i] for i in indices[n_val:]]
    data, _ = load(tmp_path, "OxfordPets", seed=11)
    assert (list(impaths(data.train_x)), list(impaths(data.val))) == (train, val)
