"""Clear errors: each names the dataset, the path looked at, and the fix."""
import shutil

import pytest

from datasets.errors import DatasetNotFoundError, IncompleteDatasetError, MissingImagesError
from datasets_helpers import linked_copy, load, real_copy


def assert_names_fix(message: str, root) -> None:
    assert f"python tools/check_data.py {root}" in message
    assert "python tools/download_data.py" in message


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load(tmp_path, "OxfordPets")
    message = str(err.value)
    assert message.startswith(f"OxfordPets: dataset folder not found: {tmp_path / 'oxford_pets'}")
    assert_names_fix(message, tmp_path)
    assert "--names oxford_pets" in message


def test_missing_split_file_and_annotations(fake_data_root, tmp_path):
    pets = linked_copy(fake_data_root, tmp_path, "OxfordPets", drop=["split_zhou_OxfordPets.json", "annotations"])
    with pytest.raises(DatasetNotFoundError) as err:
        load(tmp_path, "OxfordPets")
    message = str(err.value)
    assert f"annotation file not found: {pets / 'annotations' / 'trainval.txt'}" in message
    assert f"no split file {pets / 'split_zhou_OxfordPets.json'}" in message
    assert_names_fix(message, tmp_path)


def test_missing_official_split_file_of_fgvc_aircraft(fake_data_root, tmp_path):
    linked_copy(fake_data_root, tmp_path, "FGVCAircraft", drop=["images_variant_val.txt"])
    with pytest.raises(DatasetNotFoundError, match="FGVCAircraft: split file not found: .*images_variant_val.txt"):
        load(tmp_path, "FGVCAircraft")


def test_images_missing_from_a_split_are_named(fake_data_root, tmp_path):
    dtd = real_copy(fake_data_root, tmp_path, "DescribableTextures")
    victim = dtd / "images" / "banded" / "banded_0001.jpg"
    victim.unlink()
    with pytest.raises(MissingImagesError) as err:
        load(tmp_path, "DescribableTextures")
    message = str(err.value)
    assert "DescribableTextures: 1 of" in message and str(victim) in message
    assert "split_zhou_DescribableTextures.json" in message
    assert_names_fix(message, tmp_path)


def test_malformed_annotation_line_is_located(fake_data_root, tmp_path):
    pets = linked_copy(fake_data_root, tmp_path, "OxfordPets", drop=["split_zhou_OxfordPets.json", "annotations"])
    (pets / "annotations").mkdir()
    shutil.copy(fake_data_root / "oxford_pets" / "annotations" / "test.txt", pets / "annotations")
    (pets / "annotations" / "trainval.txt").write_text("Abyssinian_100 1 1 1\n# a comment\n")
    with pytest.raises(ValueError, match="trainval.txt line 2: expected '<image> <class id> <species> <breed id>'"):
        load(tmp_path, "OxfordPets")


def test_unknown_subsample_value(fake_data_root, tmp_path):
    with pytest.raises(ValueError, match=r"DATASET.SUBSAMPLE_CLASSES must be one of \('all', 'base', 'new'\), got 'novel'"):
        load(fake_data_root, "EuroSAT", subsample="novel", output_dir=tmp_path)


def test_flat_imagenet_val_folder_points_to_the_repair(fake_data_root, tmp_path):
    imagenet = tmp_path / "imagenet"
    (imagenet / "images" / "val").mkdir(parents=True)
    (imagenet / "images" / "train").symlink_to(fake_data_root / "imagenet" / "images" / "train")
    (imagenet / "classnames.txt").symlink_to(fake_data_root / "imagenet" / "classnames.txt")
    for i in range(3):
        (imagenet / "images" / "val" / f"ILSVRC2012_val_{i + 1:08d}.JPEG").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError) as err:
        load(tmp_path, "ImageNet")
    message = str(err.value)
    assert f"ImageNet: no class folders in {imagenet / 'images' / 'val'}: it holds 3 images directly" in message
    assert "--repair-val-labels" in message


def test_variant_uses_imagenet_classnames_when_its_own_copy_is_missing(fake_data_root, tmp_path):
    linked_copy(fake_data_root, tmp_path, "ImageNetA", drop=["classnames.txt"])
    with pytest.raises(DatasetNotFoundError, match=f"ImageNetA: class-name file not found: {tmp_path}/imagenet-adversarial/classnames.txt"):
        load(tmp_path, "ImageNetA")
    (tmp_path / "imagenet").mkdir()
    shutil.copy(fake_data_root / "imagenet" / "classnames.txt", tmp_path / "imagenet")
    data, _ = load(tmp_path, "ImageNetA")
    assert data.num_classes == 200 and data.classnames[0] == "tench"


def imagenet_without(fake_data_root, root, train_classes=(), fake=True):
    """The fake ImageNet, its train class folders linked one by one minus ``train_classes``, as an
    interrupted extraction leaves it; ``fake=False`` drops the marker, so it is taken for the real one."""
    source, imagenet = fake_data_root / "imagenet", root / "imagenet"
    (imagenet / "images" / "train").mkdir(parents=True)
    (imagenet / "images" / "val").symlink_to(source / "images" / "val")
    (imagenet / "classnames.txt").symlink_to(source / "classnames.txt")
    if fake:
        (imagenet / ".fake_dataset").symlink_to(source / ".fake_dataset")
    for folder in (source / "images" / "train").iterdir():
        if folder.name not in train_classes:
            (imagenet / "images" / "train" / folder.name).symlink_to(folder)
    return imagenet


def test_half_extracted_imagenet_is_refused_before_its_listing_is_cached(fake_data_root, tmp_path):
    missing = ["n01440764", "n01443537"]  # tench, goldfish: the first two wnids
    imagenet = imagenet_without(fake_data_root, tmp_path, missing)
    with pytest.raises(IncompleteDatasetError) as err:
        load(tmp_path, "ImageNet")
    message = str(err.value)
    assert (f"ImageNet: {imagenet} is incomplete (images/train: classes: 998 found, 1,000 expected, missing or "
            "empty class folders n01440764, n01443537), e.g. still being extracted") in message
    assert "No preprocessed.pkl was written from it." in message
    assert_names_fix(message, tmp_path)
    assert not (imagenet / "preprocessed.pkl").exists()
    assert not (tmp_path / "output" / "dataset_cache").exists()

    for wnid in missing:  # the extraction finishes
        (imagenet / "images" / "train" / wnid).symlink_to(fake_data_root / "imagenet" / "images" / "train" / wnid)
    data, printed = load(tmp_path, "ImageNet")
    assert (len(data.train_x), len(data.test), data.num_classes) == (2000, 1000, 1000)
    assert f"Saved preprocessed data to {imagenet / 'preprocessed.pkl'}" in printed


def test_imagenet_with_every_class_but_few_images_is_refused_unless_fake(fake_data_root, tmp_path):
    imagenet = imagenet_without(fake_data_root, tmp_path, fake=False)
    with pytest.raises(IncompleteDatasetError) as err:
        load(tmp_path, "ImageNet")
    assert (f"ImageNet: {imagenet} is incomplete (images/train: images: 2,000 found, 1,281,167 expected; "
            "images/val: images: 1,000 found, 50,000 expected)") in str(err.value)
    assert not (imagenet / "preprocessed.pkl").exists()


def test_an_existing_imagenet_listing_is_read_without_the_check(fake_data_root, tmp_path):
    imagenet = imagenet_without(fake_data_root, tmp_path)
    load(tmp_path, "ImageNet")
    (imagenet / ".fake_dataset").unlink()  # the folder would now fail the count check
    data, printed = load(tmp_path, "ImageNet")
    assert f"Loading preprocessed data from {imagenet / 'preprocessed.pkl'}" in printed
    assert (len(data.train_x), len(data.test)) == (2000, 1000)
