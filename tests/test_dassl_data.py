"""Datum/DatasetBase, few-shot sampling, transforms and loader errors."""
import pickle
import random

import pytest
import torch
from PIL import Image

from dassl.config import get_cfg_default
from dassl.data import DatasetWrapper, build_data_loader
from dassl.data.datasets import DatasetBase, Datum
from dassl.data.transforms import AVAI_CHOICES, build_transform
from dassl.utils import set_random_seed
from dassl_helpers import reference_datum_pickle


@pytest.fixture()
def images(tmp_path):
    """Seven labelled images; labels appear in the order 2, 0, 1 with 3, 2 and 2 items."""
    labels = [2, 0, 2, 1, 0, 2, 1]
    items = []
    for i, label in enumerate(labels):
        path = str(tmp_path / f"img{i}.png")
        Image.new("RGB", (12, 6), (10 * i, 20 * label, 30)).save(path)
        items.append(Datum(impath=path, label=label, domain=0, classname=f"class{label}"))
    return items


def test_datum_checks_its_path(tmp_path):
    with pytest.raises(AssertionError, match="must be a str"):
        Datum(impath=tmp_path / "x.png")
    with pytest.warns(UserWarning, match="No file found"), pytest.raises(AssertionError, match="not found"):
        Datum(impath=str(tmp_path / "missing.png"))


def test_dataset_base_classnames_come_from_train_x(images):
    dataset = DatasetBase(train_x=images, test=images[:2])
    assert dataset.num_classes == 3
    assert dataset.classnames == ["class0", "class1", "class2"]
    assert dataset.lab2cname == {0: "class0", 1: "class1", 2: "class2"}
    assert list(DatasetBase.split_dataset_by_label(images)) == [2, 0, 1]


def expected_fewshot(items, k, seed, repeat=False):
    """Dassl's few-shot rule, spelled out: labels in first-appearance order, random.sample / choices / all."""
    random.seed(seed)
    groups = {}
    for item in items:
        groups.setdefault(item.label, []).append(item)
    out = []
    for group in groups.values():
        if len(group) >= k:
            out.extend(random.sample(group, k))
        elif repeat:
            out.extend(random.choices(group, k=k))
        else:
            out.extend(group)
    return [item.impath for item in out]


@pytest.mark.parametrize("repeat", [False, True])
def test_fewshot_sampling_follows_the_rule_and_repeats(images, repeat):
    dataset = DatasetBase(train_x=images)
    set_random_seed(1)
    first = [d.impath for d in dataset.generate_fewshot_dataset(images, num_shots=3, repeat=repeat)]
    set_random_seed(1)
    second = [d.impath for d in dataset.generate_fewshot_dataset(images, num_shots=3, repeat=repeat)]
    assert first == second == expected_fewshot(images, 3, seed=1, repeat=repeat)
    assert len(first) == (9 if repeat else 7)


def test_fewshot_multiple_sources_and_no_shots(images):
    dataset = DatasetBase(train_x=images)
    set_random_seed(2)
    train, val = dataset.generate_fewshot_dataset(images, images[:4], num_shots=1)
    assert sorted(d.label for d in train) == [0, 1, 2] and sorted(d.label for d in val) == [0, 1, 2]
    assert dataset.generate_fewshot_dataset(images, num_shots=-1) is images


def test_reference_fewshot_pickle_loads(tmp_path):
    path = str(tmp_path / "img.png")
    Image.new("RGB", (4, 4)).save(path)
    cache = pickle.loads(reference_datum_pickle(path, 7, "golden retriever"))
    (datum,) = cache["train"]
    assert isinstance(datum, Datum)
    assert (datum.impath, datum.label, datum.domain, datum.classname) == (path, 7, 0, "golden retriever")
    assert pickle.loads(pickle.dumps(datum)).__dict__ == datum.__dict__


def transform_cfg(size=(4, 4), transforms=("normalize",)):
    cfg = get_cfg_default()
    cfg.INPUT.SIZE = size
    cfg.INPUT.TRANSFORMS = transforms
    cfg.INPUT.INTERPOLATION = "bicubic"
    return cfg


def test_test_transform_resizes_shorter_side_then_center_crops():
    img = Image.new("RGB", (8, 4))
    img.paste((255, 0, 0), (0, 0, 2, 4))
    img.paste((0, 0, 255), (6, 0, 8, 4))
    img.paste((0, 255, 0), (2, 0, 6, 4))
    cfg = transform_cfg(transforms=())
    out = build_transform(cfg, is_train=False)(img)
    assert out.shape == (3, 4, 4)
    assert torch.allclose(out[1], torch.ones(4, 4)), "the centre 4x4 of an 8x4 image is the green band"


def test_every_transform_name_builds_and_runs():
    cfg = transform_cfg(size=(32, 32), transforms=tuple(AVAI_CHOICES))
    img = Image.new("RGB", (40, 36), (120, 60, 30))
    torch.manual_seed(0)
    assert build_transform(cfg, is_train=True)(img).shape == (3, 32, 32)
    assert build_transform(cfg, is_train=False)(img).shape == (3, 32, 32)
    with pytest.raises(ValueError, match='Unknown transform "random_rotate"'):
        build_transform(transform_cfg(transforms=("random_rotate",)))


def test_unreadable_image_error_names_the_file(tmp_path, images):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    items = [images[0], Datum(impath=str(broken), label=0)]
    cfg = transform_cfg(transforms=())
    cfg.DATALOADER.NUM_WORKERS = 1
    wrapper = DatasetWrapper(cfg, items, transform=build_transform(cfg, is_train=False))
    assert wrapper[0]["img"].shape == (3, 4, 4)
    with pytest.raises(OSError, match=r"Cannot read image .*broken\.jpg"):
        wrapper[1]
    loader = build_data_loader(cfg, data_source=items, batch_size=2, tfm=build_transform(cfg, is_train=False))
    with pytest.raises(OSError, match=r"broken\.jpg"):
        next(iter(loader))


def test_empty_split_assertion_names_split_and_root(tmp_path):
    cfg = transform_cfg()
    cfg.DATASET.NAME = "ImageNet"
    cfg.DATASET.ROOT = str(tmp_path)
    with pytest.raises(AssertionError, match=r"test split of dataset ImageNet is empty .*DATASET\.ROOT=.*preprocessed\.pkl"):
        build_data_loader(cfg, data_source=[], split_name="test")
