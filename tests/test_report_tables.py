"""tools/report.py's tables from fake finished runs, every number against hand computation.

Deliberate changes from the earlier text report: one table per protocol with one column group per
method (was one table per trainer and config), cells are ``mean ± std (seeds)`` in Markdown by
default, and an average is left out for a method while any of its runs is missing (it used to average
the datasets found).
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from report_helpers import COOP, MMA, b2n_pair, run
from tools import report
from tools.reporting import build_tables, find_runs, missing_runs, render
from tools.reporting.runs import ResultFileError

REPO_ROOT = Path(__file__).resolve().parents[1]
XD = "shots_16/MultiModalAdapter/vit_b16_ep1_xd"


def hm(b, n):
    return 2 * b * n / (b + n)


@pytest.fixture(scope="module")
def output_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report") / "output"
    for seed, (base, novel) in {1: (80.0, 70.0), 2: (82.0, 74.0)}.items():
        b2n_pair(root, "eurosat", MMA, "vit_b16_ep5", seed, base, novel)
    for seed, (base, novel) in {1: (60.0, 90.0), 2: (62.0, 88.0)}.items():
        b2n_pair(root, "imagenet", MMA, "vit_b16_ep5_imnet", seed, base, novel)
    for seed, (base, novel) in {1: (84.0, 60.0), 2: (86.0, 61.0)}.items():
        b2n_pair(root, "eurosat", COOP, "vit_b16_ctxv1", seed, base, novel)
    b2n_pair(root, "imagenet", COOP, "vit_b16_ep50_ctxv1", 1, 70.0, 80.0)  # seed 2 missing
    for seed, values in {1: (71.0, 94.0, 40.0, 64.0, 50.0), 2: (70.0, 92.0, 50.0, 63.0, 51.0)}.items():
        run(root, f"xd/train/imagenet/{XD}/seed{seed}", values[0], epochs=1)
        run(root, f"xd/test/caltech101/{XD}/seed{seed}", values[1])
        run(root, f"xd/test/eurosat/{XD}/seed{seed}", values[2])
        run(root, f"dg/test/imagenetv2/{XD}/seed{seed}", values[3])
        run(root, f"dg/test/imagenet_a/{XD}/seed{seed}", values[4])
    for dataset, shots, accuracy in [("dtd", 1, 30.0), ("dtd", 4, 50.0), ("eurosat", 4, 70.0)]:
        run(root, f"fewshot/train_all/{dataset}/shots_{shots}/{MMA}/vit_b16_fewshot_{shots}shot/seed1", accuracy)
    for setting, (base, novel) in {"rate_0.0": (80.0, 70.0), "rate_0.2": (70.0, 60.0)}.items():
        b2n_pair(root, "dtd", MMA, "vit_b16_ep5", 1, base, novel, study=f"label_noise/{setting}")
    (root / "smoke" / "not" / "in").mkdir(parents=True)
    (root / "smoke" / "not" / "in" / "result.json").write_text('{"metrics": {"accuracy": 1}}')
    return root


@pytest.fixture(scope="module")
def tables(output_root):
    return {table.key: table for table in build_tables(str(output_root))}


def cell(table, row, method, metric):
    found = table.cell(table.row(row), next(m for m in table.methods if m.label == method), metric)
    return None if found is None else (found.mean, found.std, found.seeds)


def test_base_to_novel_cells_hm_and_average(tables):
    table = tables["base2new"]
    assert [m.label for m in table.methods] == ["CoOp", "MMA"]
    assert [row.key for row in table.rows] == ["imagenet", "eurosat", "average"]
    approx = pytest.approx
    assert cell(table, "eurosat", "MMA", "base") == approx((81.0, 1.0, 2))
    assert cell(table, "eurosat", "MMA", "novel") == approx((72.0, 2.0, 2))
    # HM of the seed means; spread of the per-seed HMs (population std of two values = half their gap)
    assert cell(table, "eurosat", "MMA", "HM") == approx((hm(81, 72), abs(hm(82, 74) - hm(80, 70)) / 2, 2))
    assert cell(table, "imagenet", "MMA", "base") == approx((61.0, 1.0, 2))  # from vit_b16_ep5_imnet
    assert cell(table, "imagenet", "MMA", "HM")[0] == approx(hm(61, 89))
    # average: per seed (80+60)/2=70, (82+62)/2=72 -> 71 +- 1; novel (70+90)/2=80, (74+88)/2=81 -> 80.5 +- 0.5
    assert cell(table, "average", "MMA", "base") == approx((71.0, 1.0, 2))
    assert cell(table, "average", "MMA", "novel") == approx((80.5, 0.5, 2))
    assert cell(table, "average", "MMA", "HM") == approx((hm(71, 80.5), abs(hm(72, 81) - hm(70, 80)) / 2, 2))
    assert cell(table, "eurosat", "CoOp", "HM")[0] == approx(hm(85, 60.5))
    assert cell(table, "imagenet", "CoOp", "base") == approx((70.0, 0.0, 1))
    assert cell(table, "average", "CoOp", "HM") is None  # a seed of ImageNet is missing
    assert "CoOp: average left out, 2 run(s) missing (listed below)." in table.notes


def test_missing_seed_is_listed_with_its_command(tables, output_root):
    missing = {run.folder: run.command for run in tables["base2new"].missing}
    root = str(output_root)
    assert missing == {
        "base2new/train_base/imagenet/shots_16/CoOp/vit_b16_ep50_ctxv1/seed2":
            f"OUTPUT={root} bash scripts/coop/base2new_train.sh imagenet 2 vit_b16_ep50_ctxv1",
        "base2new/test_new/imagenet/shots_16/CoOp/vit_b16_ep50_ctxv1/seed2":
            f"OUTPUT={root} bash scripts/coop/base2new_test.sh imagenet 2 vit_b16_ep50_ctxv1",
    }
    assert {run.folder for run in missing_runs(root)} >= set(missing)
    text = render([tables["base2new"]], "md")
    assert "Missing runs (2):" in text and f"    OUTPUT={root} bash scripts/coop/base2new_test.sh imagenet 2" in text


def test_cross_dataset_and_domain_generalization(tables):
    xd, dg = tables["xd"], tables["dg"]
    assert [row.key for row in xd.rows] == ["source", "caltech101", "eurosat", "average"]
    assert cell(xd, "source", "MMA", "accuracy") == pytest.approx((70.5, 0.5, 2))
    assert cell(xd, "caltech101", "MMA", "accuracy") == pytest.approx((93.0, 1.0, 2))
    assert cell(xd, "eurosat", "MMA", "accuracy") == pytest.approx((45.0, 5.0, 2))
    # per seed (94+40)/2=67 and (92+50)/2=71: 69 +- 2 over the targets only (not the source)
    assert cell(xd, "average", "MMA", "accuracy") == pytest.approx((69.0, 2.0, 2))
    assert [row.key for row in dg.rows] == ["source", "imagenetv2", "imagenet_a", "average"]
    assert cell(dg, "average", "MMA", "accuracy") == pytest.approx((57.0, 0.0, 2))
    assert "The published average is over 10 targets; this one is over 2." in xd.notes


def test_fewshot_per_shot_count(tables, output_root):
    table = tables["fewshot"]
    assert table.metrics == ["1-shot", "4-shot"]
    assert cell(table, "dtd", "MMA", "1-shot") == pytest.approx((30.0, 0.0, 1))
    assert cell(table, "average", "MMA", "4-shot") == pytest.approx((60.0, 0.0, 1))
    assert cell(table, "average", "MMA", "1-shot") is None
    assert [(m.folder, m.command) for m in table.missing] == [(
        "fewshot/train_all/eurosat/shots_1/MultiModalAdapter/vit_b16_fewshot_1shot/seed1",
        f"OUTPUT={output_root} bash scripts/mmadapter/fewshot.sh eurosat 1 1 vit_b16_fewshot_1shot",
    )]


def test_study_table_one_row_per_setting(tables):
    table = tables["study_label_noise"]
    assert [row.key for row in table.rows] == ["rate_0.0", "rate_0.2"]
    assert cell(table, "rate_0.0", "MMA", "HM")[0] == pytest.approx(hm(80, 70))
    assert cell(table, "rate_0.2", "MMA", "novel") == pytest.approx((60.0, 0.0, 1))


def test_best_value_per_row_is_bold(tables):
    md = render([tables["base2new"]], "md")
    eurosat = next(line for line in md.splitlines() if line.startswith("| eurosat"))
    assert re.search(r"\*\*85\.00 ± 1\.00 \(2\)\*\*", eurosat)  # CoOp's base
    assert re.search(r"\*\*72\.00 ± 2\.00 \(2\)\*\*", eurosat)  # MMA's novel
    assert "**60.50" not in eurosat


def test_configs_are_never_mixed(tmp_path):
    root = tmp_path / "output"
    b2n_pair(root, "dtd", MMA, "vit_b16_ep5", 1, 80.0, 70.0)
    b2n_pair(root, "dtd", MMA, "vit_b16_ep5_noise03", 1, 60.0, 50.0)
    b2n_pair(root, "imagenet", MMA, "vit_b16_ep5_imnet_noise03", 1, 40.0, 30.0)
    table = build_tables(str(root))[0]
    assert [(m.label, m.cfg) for m in table.methods] == [
        ("MMA (vit_b16_ep5)", "vit_b16_ep5"), ("MMA (vit_b16_ep5_noise03)", "vit_b16_ep5_noise03")]
    assert cell(table, "dtd", "MMA (vit_b16_ep5)", "base") == pytest.approx((80.0, 0.0, 1))
    assert cell(table, "imagenet", "MMA (vit_b16_ep5_noise03)", "base") == pytest.approx((40.0, 0.0, 1))
    missing = [m.command for m in table.missing]
    assert missing[0].endswith("base2new_train.sh imagenet 1 vit_b16_ep5_imnet")
    assert all("noise03" not in m.folder for m in table.missing)


def test_new_trainers_get_columns_without_code_changes(tmp_path):
    root = tmp_path / "output"
    b2n_pair(root, "dtd", "PromptSRC", "vit_b16_c2_ep20", 1, 80.0, 70.0)
    b2n_pair(root, "dtd", "SomeNewMethod", "v1", 1, 81.0, 71.0)
    table = build_tables(str(root))[0]
    assert [m.label for m in table.methods] == ["PromptSRC", "SomeNewMethod"]
    assert "no scripts/<method>/settings.sh names TRAINER=SomeNewMethod" not in str(table.missing)


def test_command_line_prints_and_writes_every_table(output_root, tmp_path):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "report.py"), str(output_root)],
                          capture_output=True, text=True, check=True)
    for title in ("Base-to-novel generalization", "Cross-dataset transfer", "Domain generalization",
                  "Few-shot learning (all classes)", "Study: label_noise"):
        assert f"### {title}" in done.stdout
    assert re.search(r"^\| \*\*average \(2 datasets\)\*\* +\| +– +\| +– +\| +– +\| 71\.00 ± 1\.00 \(2\) ", done.stdout, re.M)
    assert report.main([str(output_root), "--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    written = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert written == ["base2new.csv", "dg.csv", "fewshot.csv", "missing_runs.txt", "study_label_noise.csv", "xd.csv"]
    lines = (tmp_path / "csv" / "xd.csv").read_text().splitlines()
    assert "xd,average,MMA,MultiModalAdapter,vit_b16_ep1_xd,accuracy,69.0000,2.0000,2,0" in lines
    assert "base2new_train.sh imagenet 2 vit_b16_ep50_ctxv1" in (tmp_path / "csv" / "missing_runs.txt").read_text()


def test_methods_filter(output_root):
    tables = build_tables(str(output_root), ["mma"])
    assert {m.label for t in tables for m in t.methods} == {"MMA"}
    assert build_tables(str(output_root), ["CoOp/vit_b16_ctxv1"])[0].missing[0].folder.startswith("base2new/")


def test_empty_and_broken_outputs(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 0
    assert "No finished runs" in capsys.readouterr().out
    assert report.main([str(tmp_path / "missing")]) == 2
    assert "No such output folder" in capsys.readouterr().err
    folder = tmp_path / "base2new/train_base/dtd/shots_16/CoOp/v/seed1"
    folder.mkdir(parents=True)
    (folder / "result.json").write_text("{not json")
    with pytest.raises(ResultFileError, match="Cannot read the accuracy from .*seed1.result.json"):
        find_runs(str(tmp_path))


def test_backbone_folders_keep_their_imagenet_twin(tmp_path):
    root = tmp_path / "output"
    b2n_pair(root, "dtd", MMA, "vit_b16_ep5@ViT-B-32", 1, 80.0, 70.0)
    b2n_pair(root, "imagenet", MMA, "vit_b16_ep5_imnet@ViT-B-32", 1, 60.0, 50.0)
    table = build_tables(str(root))[0]
    assert [(m.label, m.cfg) for m in table.methods] == [("MMA", "vit_b16_ep5@ViT-B-32")]
    assert cell(table, "average", "MMA", "base") == pytest.approx((70.0, 0.0, 1))
