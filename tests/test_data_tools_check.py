"""tools/check_data.py: per-dataset status, counts against the published sizes, and the fix for what is missing."""
from datasets.catalog import CATALOG, DatasetFacts, lookup
from datasets_helpers import FOLDERS, linked_copy, load, real_copy
from tools import check_data


def test_every_fake_dataset_loads_and_is_compared_with_the_published_sizes(fake_data_root, tmp_path, capsys):
    for name in FOLDERS:
        linked_copy(fake_data_root, tmp_path, name)
    assert check_data.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:16]}
    assert set(rows) == {facts.key for facts in CATALOG}
    assert all("sizes differ" in row for row in rows.values())
    assert "111 (want 2,944)" in rows["oxford_pets"] and "74 (want 3,669)" in rows["oxford_pets"]
    assert "200 (want 7,500)" in rows["imagenet_a"]
    assert "15 of 15 dataset(s) load" in out


def test_counts_are_measured_per_split_and_base_new(fake_data_root, tmp_path):
    pets, _ = load(fake_data_root, "OxfordPets", output_dir=tmp_path)
    counts = check_data.measured_counts(lookup("oxford_pets"), pets)
    assert counts == {"classes": 37, "train": 111, "val": 37, "test": 74, "base_test": 38, "new_test": 36}


def test_matching_sizes_are_ready(fake_data_root):
    facts = DatasetFacts("eurosat", "EuroSAT", 10, 30, 10, 20, 10, 10)
    assert check_data.inspect(str(fake_data_root), facts).status == check_data.READY


def test_problems_are_reported_with_their_fix(fake_data_root, tmp_path, capsys):
    linked_copy(fake_data_root, tmp_path, "OxfordPets", drop=["split_zhou_OxfordPets.json"])
    eurosat = real_copy(fake_data_root, tmp_path, "EuroSAT")
    damaged = eurosat / "2750" / "Forest" / "forest_0001.jpg"
    damaged.write_bytes(damaged.read_bytes()[:60])
    assert check_data.main([str(tmp_path), "oxford_pets", "SUN397", "EuroSAT", "--verify-images"]) == 1
    out = capsys.readouterr().out
    assert f"released split file not found: {tmp_path}/oxford_pets/split_zhou_OxfordPets.json" in out
    assert f"python tools/download_data.py {tmp_path} --names oxford_pets" in out
    assert f"SUN397: dataset folder not found: {tmp_path}/sun397" in out
    assert "EuroSAT: 1 image(s) cannot be decoded" in out and str(damaged) in out
    assert "0 of 3 dataset(s) load" in out


def test_expected_table_lists_the_published_sizes(capsys):
    assert check_data.main(["--expected"]) == 0
    out = capsys.readouterr().out
    assert "1,281,167" in out and "50,889" in out
    assert "1,549" in out and "916" in out
