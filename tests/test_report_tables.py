"""tools/report.py builds the tables from result.json files, with hand-computed expectations."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import report

REPO_ROOT = Path(__file__).resolve().parents[1]


def write_result(root: Path, relative: str, accuracy: float) -> None:
    folder = root / relative
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps({"metrics": {"accuracy": accuracy, "error_rate": 100 - accuracy}}))


def b2n(phase: str, dataset: str, cfg: str, seed: int) -> str:
    return f"base2new/{phase}/{dataset}/shots_16/MultiModalAdapter/{cfg}/seed{seed}"


@pytest.fixture
def output_root(tmp_path: Path) -> Path:
    """Two datasets x seeds for base-to-novel (ImageNet under the _imnet config), xd/DG and few-shot."""
    root = tmp_path / "output"
    for seed, base, novel in [(1, 80.0, 70.0), (2, 82.0, 74.0)]:
        write_result(root, b2n("train_base", "eurosat", "vit_b16_ep5", seed), base)
        write_result(root, b2n("test_new", "eurosat", "vit_b16_ep5", seed), novel)
    write_result(root, b2n("train_base", "imagenet", "vit_b16_ep5_imnet", 1), 60.0)
    write_result(root, b2n("test_new", "imagenet", "vit_b16_ep5_imnet", 1), 90.0)
    write_result(root, b2n("train_base", "dtd", "vit_b16_ep5", 1), 55.0)
    (root / b2n("test_new", "dtd", "vit_b16_ep5", 1)).mkdir(parents=True)  # unfinished: no result.json
    xd = "shots_16/MultiModalAdapter/vit_b16_ep1_xd"
    for seed, source in [(1, 71.0), (2, 70.0)]:
        write_result(root, f"xd/train/imagenet/{xd}/seed{seed}", source)
    write_result(root, f"xd/test/caltech101/{xd}/seed1", 94.0)
    write_result(root, f"xd/test/eurosat/{xd}/seed1", 40.0)
    write_result(root, f"xd/test/eurosat/{xd}/seed2", 50.0)
    write_result(root, f"dg/test/imagenetv2/{xd}/seed1", 64.0)
    write_result(root, f"dg/test/imagenet_a/{xd}/seed1", 50.0)
    for shots, accuracy in [(1, 30.0), (4, 50.0)]:
        write_result(root, f"fewshot/train_all/dtd/shots_{shots}/MultiModalAdapter/vit_b16_fewshot_{shots}shot/seed1", accuracy)
    write_result(root, "fewshot/train_all/eurosat/shots_4/MultiModalAdapter/vit_b16_fewshot_4shot/seed1", 70.0)
    write_result(root, "fewshot/train_all/eurosat/shots_4/MultiModalAdapter/vit_b16_fewshot_4shot/seed2", 72.0)
    write_result(root, "fewshot/train_all/dtd/shots_1/CoOp/vit_b16_ep50/seed1", 40.0)
    write_result(root, "fewshot/train_all/imagenet/shots_16/CoOp/vit_b16_ep50/seed1", 60.0)
    write_result(root, "fewshot/train_all/dtd/shots_16/CoOp/vit_b16/seed1", 65.0)
    write_result(root, "smoke/not/in/the/layout", 1.0)
    return root


def test_base_to_novel_rows_and_average(output_root):
    runs = report.find_runs(str(output_root))
    groups = report.base2new_groups(runs)
    assert list(groups) == [("MultiModalAdapter", "vit_b16_ep5", 16)]
    rows = {row.dataset: row for row in report.base2new_rows(groups[("MultiModalAdapter", "vit_b16_ep5", 16)], "vit_b16_ep5")}
    assert [*rows] == ["imagenet (vit_b16_ep5_imnet)", "dtd", "eurosat", "average (2 datasets)"]
    eurosat = rows["eurosat"]
    assert (eurosat.base.mean, eurosat.base.seeds, eurosat.novel.mean, eurosat.novel.seeds) == (81.0, 2, 72.0, 2)
    assert eurosat.hm == pytest.approx(2 * 81 * 72 / (81 + 72))
    assert rows["imagenet (vit_b16_ep5_imnet)"].hm == pytest.approx(2 * 60 * 90 / 150)
    assert rows["dtd"].novel is None and rows["dtd"].hm is None
    average = rows["average (2 datasets)"]
    assert (average.base.mean, average.novel.mean) == (70.5, 81.0)
    assert average.hm == pytest.approx(2 * 70.5 * 81.0 / (70.5 + 81.0))
    assert (average.base.seeds, average.novel.seeds) == (1, 1)


def test_cross_dataset_and_domain_generalization(output_root):
    runs = report.find_runs(str(output_root))
    group = [run for run in runs if run.protocol in ("xd", "dg")]
    xd = report.transfer_table(group, "xd")
    assert (xd.source.mean, xd.source.seeds) == (70.5, 2)
    assert [(name, cell.mean, cell.seeds) for name, cell in xd.targets] == [("caltech101", 94.0, 1), ("eurosat", 45.0, 2)]
    assert (xd.average.mean, xd.average.seeds) == (69.5, 1)
    dg = report.transfer_table(group, "dg")
    assert [name for name, _ in dg.targets] == ["imagenetv2", "imagenet_a"]
    assert dg.average.mean == 57.0 and dg.source.mean == 70.5


def test_fewshot_table_per_trainer_with_its_configs(output_root):
    runs = [run for run in report.find_runs(str(output_root)) if run.protocol == "fewshot"]
    mma = report.fewshot_table([run for run in runs if run.trainer == "MultiModalAdapter"])
    assert mma.shots == [1, 4]
    table = {name: {k: (cell.mean, cell.seeds) for k, cell in cells.items()} for name, cells in mma.rows}
    assert table == {"dtd": {1: (30.0, 1), 4: (50.0, 1)}, "eurosat": {4: (71.0, 2)}, "average (2 datasets)": {4: (60.5, 1)}}
    assert mma.configs == {1: ["vit_b16_fewshot_1shot"], 4: ["vit_b16_fewshot_4shot"]}
    coop = report.fewshot_table([run for run in runs if run.trainer == "CoOp"])
    assert coop.configs == {1: ["vit_b16_ep50"], 16: ["vit_b16", "vit_b16_ep50"]}
    assert [name for name, _ in coop.rows] == ["imagenet", "dtd", "average (2 datasets)"]


def test_command_prints_every_table(output_root):
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "report.py"), str(output_root)],
        capture_output=True, text=True, check=True,
    )
    out = done.stdout
    assert "== Base-to-novel: MultiModalAdapter / vit_b16_ep5 / 16 shots ==" in out
    assert re.search(r"^eurosat +81.00 \(2\) +72.00 \(2\) +76.24$", out, flags=re.M)
    assert re.search(r"^average \(2 datasets\) +70.50 \(1\) +81.00 \(1\) +75.39$", out, flags=re.M)
    assert "== Cross-dataset: MultiModalAdapter / vit_b16_ep1_xd / 16 shots ==" in out
    assert "average (2 targets)  69.50 (1)" in out
    assert "== Domain generalization: MultiModalAdapter / vit_b16_ep1_xd / 16 shots ==" in out
    assert "== Few-shot (all classes): MultiModalAdapter ==" in out
    assert "configs: 1 shots: vit_b16_fewshot_1shot; 4 shots: vit_b16_fewshot_4shot" in out
    assert re.search(r"^imagenet \(vit_b16_ep5_imnet\) +60.00 \(1\) +90.00 \(1\) +72.00$", out, flags=re.M)


def test_imagenet_only_config_joins_the_trainer_tables_without_imagenet(tmp_path):
    root = tmp_path / "output"
    write_result(root, "base2new/train_base/imagenet/shots_16/CoOp/vit_b16_ep50_ctxv1/seed1", 70.0)
    write_result(root, "base2new/train_base/dtd/shots_16/CoOp/vit_b16_ctxv1/seed1", 60.0)
    write_result(root, "base2new/train_base/dtd/shots_16/CoOp/rn50/seed1", 50.0)
    write_result(root, "base2new/train_base/imagenet/shots_16/CoOp/rn50/seed1", 40.0)
    groups = report.base2new_groups(report.find_runs(str(root)))
    assert {key: sorted(run.dataset for run in group) for key, group in groups.items()} == {
        ("CoOp", "rn50", 16): ["dtd", "imagenet"],
        ("CoOp", "vit_b16_ctxv1", 16): ["dtd", "imagenet"],
    }
    write_result(root, "base2new/train_base/imagenet/shots_16/CoOp/vit_b16_ep25_ctxv1/seed1", 71.0)
    groups = report.base2new_groups(report.find_runs(str(root)))
    assert ("CoOp", "vit_b16_ep25_ctxv1", 16) in groups and ("CoOp", "vit_b16_ep50_ctxv1", 16) in groups


def test_empty_and_broken_outputs(tmp_path):
    assert "No finished runs" in report.render(report.find_runs(str(tmp_path)))
    with pytest.raises(SystemExit, match="No such output folder"):
        report.find_runs(str(tmp_path / "missing"))
    folder = tmp_path / b2n("train_base", "dtd", "vit_b16_ep5", 1)
    folder.mkdir(parents=True)
    (folder / "result.json").write_text("{not json")
    with pytest.raises(ValueError, match="Cannot read the accuracy from .*seed1.result.json"):
        report.find_runs(str(tmp_path))
