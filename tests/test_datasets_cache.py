"""Few-shot and preprocessed caches: file names, determinism, stale and unreadable caches, read-only roots."""
import builtins
import errno
import os
import pickle
import shutil

import pytest
from PIL import Image

from dassl.data.datasets import Datum
from dassl.utils import read_image
from datasets_helpers import impaths, linked_copy, load, real_copy


@pytest.fixture
def eurosat(fake_data_root, tmp_path):
    linked_copy(fake_data_root, tmp_path, "EuroSAT")
    return tmp_path


def test_cache_file_name_contents_and_reuse(eurosat):
    first, printed = load(eurosat, "EuroSAT", shots=2, seed=5)
    cache = eurosat / "eurosat" / "split_fewshot" / "shot_2-seed_5.pkl"
    assert f"Saving preprocessed few-shot data to {cache}" in printed
    with open(cache, "rb") as handle:
        stored = pickle.load(handle)
    assert set(stored) == {"train", "val"}
    assert all(type(item) is Datum for item in stored["train"] + stored["val"])
    assert not any(os.path.isabs(path) for path in impaths(stored["train"])), "paths relative to the dataset folder"
    assert tuple(str(eurosat / "eurosat" / path) for path in impaths(stored["train"])) == impaths(first.train_x)

    again, printed = load(eurosat, "EuroSAT", shots=2, seed=5)
    assert f"Loading preprocessed few-shot data from {cache}" in printed
    assert (impaths(again.train_x), impaths(again.val)) == (impaths(first.train_x), impaths(first.val))


def test_same_seed_same_sample_other_seed_other_file(eurosat, tmp_path_factory, fake_data_root):
    first, _ = load(eurosat, "EuroSAT", shots=2, seed=1)
    other_root = tmp_path_factory.mktemp("other")
    linked_copy(fake_data_root, other_root, "EuroSAT")
    rebuilt, _ = load(other_root, "EuroSAT", shots=2, seed=1)
    assert [p.replace(str(other_root), str(eurosat)) for p in impaths(rebuilt.train_x)] == list(impaths(first.train_x))
    seeds = {impaths(load(eurosat, "EuroSAT", shots=2, seed=s)[0].train_x) for s in (1, 2, 3)}
    assert len(seeds) == 3
    assert sorted(os.listdir(eurosat / "eurosat" / "split_fewshot")) == [f"shot_2-seed_{s}.pkl" for s in (1, 2, 3)]


def test_imagenet_caches_hold_train_only_few_shot(fake_data_root, tmp_path):
    linked_copy(fake_data_root, tmp_path, "ImageNet")
    data, _ = load(tmp_path, "ImageNet", shots=1, seed=1)
    with open(tmp_path / "imagenet" / "split_fewshot" / "shot_1-seed_1.pkl", "rb") as handle:
        assert set(pickle.load(handle)) == {"train"}
    with open(tmp_path / "imagenet" / "preprocessed.pkl", "rb") as handle:
        assert set(pickle.load(handle)) == {"train", "test"}
    again, printed = load(tmp_path, "ImageNet", shots=1, seed=1)
    assert "Loading preprocessed data from" in printed and "Loading preprocessed few-shot data" in printed
    assert impaths(again.train_x) == impaths(data.train_x) and len(data.train_x) == 1000


def test_a_moved_root_reuses_its_cache_with_its_own_images(fake_data_root, tmp_path):
    real_copy(fake_data_root, tmp_path / "old", "EuroSAT")
    before, _ = load(tmp_path / "old", "EuroSAT", shots=2, seed=1)
    (tmp_path / "old").rename(tmp_path / "new")
    after, printed = load(tmp_path / "new", "EuroSAT", shots=2, seed=1)
    assert "WARNING" not in printed and "Loading preprocessed few-shot data" in printed
    assert [p.replace("/new/", "/old/") for p in impaths(after.train_x)] == list(impaths(before.train_x))
    assert all(p.startswith(str(tmp_path / "new")) for p in impaths(after.train_x) + impaths(after.val))


def test_a_copied_root_with_an_old_absolute_cache_reads_the_copy(fake_data_root, tmp_path):
    """A CoOp-style cache (absolute paths) in a copy of a data root: the copy's images are read."""
    real_copy(fake_data_root, tmp_path / "original", "EuroSAT")
    before, _ = load(tmp_path / "original", "EuroSAT", shots=2, seed=1)
    cache = "eurosat/split_fewshot/shot_2-seed_1.pkl"
    with open(tmp_path / "original" / cache, "wb") as handle:
        pickle.dump({"train": list(before.train_x), "val": list(before.val)}, handle)
    shutil.copytree(tmp_path / "original", tmp_path / "copy")
    blanked = impaths(before.train_x)[0].replace("/original/", "/copy/")
    Image.new("RGB", (8, 8)).save(blanked, format="JPEG")
    after, printed = load(tmp_path / "copy", "EuroSAT", shots=2, seed=1)
    assert "WARNING" not in printed and "Loading preprocessed few-shot data" in printed
    assert impaths(after.train_x)[0] == blanked
    assert all(p.startswith(str(tmp_path / "copy")) for p in impaths(after.train_x) + impaths(after.val))
    assert read_image(impaths(after.train_x)[0]).getextrema() == ((0, 0), (0, 0), (0, 0))


def test_moved_imagenet_preprocessed_pickle_is_reused(fake_data_root, tmp_path):
    linked_copy(fake_data_root, tmp_path / "old", "ImageNet")
    load(tmp_path / "old", "ImageNet")
    (tmp_path / "old").rename(tmp_path / "new")
    data, printed = load(tmp_path / "new", "ImageNet")
    assert "ignoring the cached" not in printed
    assert len(data.test) == 1000 and all(p.startswith(str(tmp_path / "new")) for p in impaths(data.test))


def test_unreadable_cache_is_rebuilt(eurosat):
    cache = eurosat / "eurosat" / "split_fewshot" / "shot_1-seed_1.pkl"
    cache.parent.mkdir()
    cache.write_bytes(b"not a pickle")
    data, printed = load(eurosat, "EuroSAT", shots=1, seed=1)
    assert "cannot be read" in printed and len(data.train_x) == 10
    with open(cache, "rb") as handle:
        assert set(pickle.load(handle)) == {"train", "val"}


def make_read_only(monkeypatch, folder) -> None:
    """Make creating files and folders below ``folder`` fail as on a read-only mount (chmod is no use as root)."""
    blocked = str(folder)
    real_open, real_makedirs, real_mkdir = builtins.open, os.makedirs, os.mkdir

    def refuse_below(path):
        if str(path).startswith(blocked):
            raise OSError(errno.EROFS, "Read-only file system", str(path))

    def open_(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            refuse_below(file)
        return real_open(file, mode, *args, **kwargs)

    def makedirs(name, *args, **kwargs):
        refuse_below(name)
        return real_makedirs(name, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        refuse_below(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(os, "makedirs", makedirs)
    monkeypatch.setattr(os, "mkdir", mkdir)


def test_read_only_root_caches_under_the_output_folder(fake_data_root, tmp_path, monkeypatch):
    read_only_datasets = tmp_path / "data"
    linked_copy(fake_data_root, read_only_datasets, "EuroSAT")
    make_read_only(monkeypatch, read_only_datasets)
    out = tmp_path / "output"
    data, printed = load(read_only_datasets, "EuroSAT", shots=2, seed=1, output_dir=out)
    fallback = out / "dataset_cache" / "eurosat" / "split_fewshot" / "shot_2-seed_1.pkl"
    assert "Read-only file system" in printed and "not writable" in printed
    assert f"Saving preprocessed few-shot data to {fallback}" in printed
    assert not (read_only_datasets / "eurosat" / "split_fewshot" / "shot_2-seed_1.pkl").exists()
    again, printed = load(read_only_datasets, "EuroSAT", shots=2, seed=1, output_dir=out)
    assert f"Loading preprocessed few-shot data from {fallback}" in printed
    assert impaths(again.train_x) == impaths(data.train_x)


def test_read_only_root_without_split_file_saves_the_split_under_the_output_folder(
        fake_data_root, tmp_path, monkeypatch):
    read_only_datasets = tmp_path / "data"
    linked_copy(fake_data_root, read_only_datasets, "DescribableTextures", drop=["split_zhou_DescribableTextures.json"])
    make_read_only(monkeypatch, read_only_datasets)
    out = tmp_path / "output"
    load(read_only_datasets, "DescribableTextures", output_dir=out)
    saved = out / "dataset_cache" / "dtd" / "split_zhou_DescribableTextures.json"
    assert saved.is_file()
    _, printed = load(read_only_datasets, "DescribableTextures", output_dir=out)
    assert f"Reading split from {saved}" in printed


def test_read_only_root_with_existing_caches_needs_no_writes(fake_data_root, tmp_path, monkeypatch):
    linked_copy(fake_data_root, tmp_path / "data", "EuroSAT")
    load(tmp_path / "data", "EuroSAT", shots=2, seed=1)
    make_read_only(monkeypatch, tmp_path / "data")
    data, printed = load(tmp_path / "data", "EuroSAT", shots=2, seed=1, output_dir=tmp_path / "out")
    assert "Loading preprocessed few-shot data" in printed and len(data.train_x) == 20
    assert "not writable" not in printed and not (tmp_path / "out").exists()


def test_no_cache_switch_writes_no_derived_file_and_draws_the_same(eurosat, monkeypatch, tmp_path_factory,
                                                                   fake_data_root):
    cached, _ = load(eurosat, "EuroSAT", shots=2, seed=4)
    other_root = tmp_path_factory.mktemp("nocache")
    linked_copy(fake_data_root, other_root, "EuroSAT")
    monkeypatch.setenv("MMA_NO_CACHE", "1")
    uncached, printed = load(other_root, "EuroSAT", shots=2, seed=4)
    assert "Not saving the few-shot split (MMA_NO_CACHE is set)" in printed
    assert not (other_root / "eurosat" / "split_fewshot").exists()
    assert [p.replace(str(other_root), str(eurosat)) for p in impaths(uncached.train_x)] == list(impaths(cached.train_x))
