"""tools/make_fake_datasets.py: the command line, the per-class counts, and bad arguments."""
import json

import pytest
from PIL import Image

from tools import make_fake_datasets


def test_command_line_writes_the_named_datasets(tmp_path, capsys):
    make_fake_datasets.main([str(tmp_path), "--names", "eurosat", "oxford_pets", "--images-per-class", "10"])
    assert "Wrote fake datasets" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eurosat", "oxford_pets"]
    split = json.loads((tmp_path / "eurosat" / "split_zhou_EuroSAT.json").read_text())
    assert [len(split[part]) for part in ("train", "val", "test")] == [50, 20, 30]
    trainval = (tmp_path / "oxford_pets" / "annotations" / "trainval.txt").read_text().splitlines()
    assert len(trainval) == 37 * 7 and trainval[0] == "Abyssinian_100 1 1 1"


def test_images_come_in_several_sizes_and_colour_modes(fake_data_root):
    images = sorted((fake_data_root / "dtd" / "images" / "banded").iterdir())
    opened = [Image.open(path) for path in images]
    assert {image.mode for image in opened} == {"RGB", "L", "CMYK"}
    assert len({image.size for image in opened}) >= 2


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="images_per_class=3 is too small"):
        make_fake_datasets.make_fake_datasets(tmp_path, images_per_class=3)
    with pytest.raises(ValueError, match=r"Unknown dataset name\(s\) \['cifar10'\]"):
        make_fake_datasets.make_fake_datasets(tmp_path, names=["cifar10"])
