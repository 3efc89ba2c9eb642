"""tools/report.py's other outputs: LaTeX, JSON, comparisons (published and between methods),
figures, training curves, the HTML page and write_report, from fake finished runs."""
import base64
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.container import BarContainer, ErrorbarContainer

from report_helpers import COOP, MMA, b2n, b2n_pair, run, set_predictions
from tools import report
from tools.reporting import build_tables, compare_methods, compare_published, render, write_report
from tools.reporting.compare import CompareError, load_published
from tools.reporting.curves import read_curves
from tools.reporting.figures import build_figures
from tools.reporting.html_page import page
from tools.reporting.stats import bootstrap_images, paired_t_test

REPO_ROOT = Path(__file__).resolve().parents[1]


def hm(b, n):
    return 2 * b * n / (b + n)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """MMA and CoOp, 3 seeds of EuroSAT and 2 of DTD base-to-novel, 2 few-shot counts, xd and a study."""
    root = tmp_path_factory.mktemp("outputs") / "output"
    for seed, (a_base, b_base) in {1: (80.0, 79.0), 2: (82.0, 80.0), 3: (84.0, 80.0)}.items():
        b2n_pair(root, "eurosat", MMA, "vit_b16_ep5", seed, a_base, 70.0)
        b2n_pair(root, "eurosat", COOP, "vit_b16_ctxv1", seed, b_base, 60.0)
        for dataset in ("imagenet", "dtd"):
            b2n_pair(root, dataset, MMA, "vit_b16_ep5_imnet" if dataset == "imagenet" else "vit_b16_ep5", seed, 70.0, 60.0)
            b2n_pair(root, dataset, COOP, "vit_b16_ep50_ctxv1" if dataset == "imagenet" else "vit_b16_ctxv1", seed, 72.0, 50.0)
        for trainer, cfg in ((MMA, "vit_b16_ep1_xd"), (COOP, "vit_b16_ep50_ctxv1")):
            run(root, f"xd/train/imagenet/shots_16/{trainer}/{cfg}/seed{seed}", 70.0, epochs=1)
            run(root, f"xd/test/caltech101/shots_16/{trainer}/{cfg}/seed{seed}", 90.0)
        for shots in (1, 16):
            run(root, f"fewshot/train_all/dtd/shots_{shots}/{MMA}/vit_b16_fewshot_{shots}shot/seed{seed}", 40.0 + shots)
            run(root, f"fewshot/train_all/dtd/shots_{shots}/{COOP}/{'vit_b16_ep50' if shots == 1 else 'vit_b16'}/seed{seed}",
                35.0 + shots)
    for setting, novel in {"rate_0.0": 70.0, "rate_0.1": 65.0, "rate_0.3": 55.0}.items():
        b2n_pair(root, "dtd", MMA, "vit_b16_ep5", 1, 80.0, novel, study=f"label_noise/{setting}")
    return root


@pytest.fixture(scope="module")
def tables(root):
    return build_tables(str(root))


def test_latex_is_balanced_booktabs(tables, tmp_path):
    for table in tables:
        latex = render([table], "latex")
        body = "\n".join(line for line in latex.splitlines() if not line.startswith("%"))
        assert body.count("{") == body.count("}"), table.key
        assert body.count(r"\begin{tabular}") == body.count(r"\end{tabular}") == 1
        rules = re.findall(r"\\(?:top|mid|bottom)rule", body)
        assert (rules[0], rules[-1], rules.count(r"\toprule"), rules.count(r"\bottomrule")) == \
            (r"\toprule", r"\bottomrule", 1, 1) and r"\midrule" in rules
        columns = 1 + len(table.methods) * len(table.metrics)
        rows = [line for line in body.splitlines() if line.endswith(r"\\") and "multicolumn" not in line]
        assert all(line.count("&") == columns - 1 for line in rows), table.key
        assert "_" not in body.replace(r"\_", "")
    latex = render([tables[0]], "latex")
    assert r"\multicolumn{3}{c}{CoOp} & \multicolumn{3}{c}{MMA} \\" in latex
    assert r"\cmidrule(lr){2-4} \cmidrule(lr){5-7}" in latex
    assert r"\textbf{82.00 $\pm$ 1.63}" in latex  # MMA's EuroSAT base: mean of 80, 82, 84
    if shutil.which("pdflatex"):
        doc = "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + latex + "\\end{document}\n"
        (tmp_path / "table.tex").write_text(doc)
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "table.tex"], cwd=tmp_path, check=True,
                       capture_output=True)


def test_json_round_trips_every_cell(tables):
    data = json.loads(render(tables, "json"))
    b2n_json = next(t for t in data if t["key"] == "base2new")
    eurosat = next(r for r in b2n_json["rows"] if r["key"] == "eurosat")
    assert eurosat["cells"]["MMA"]["base"]["mean"] == pytest.approx(82.0)
    assert eurosat["cells"]["MMA"]["base"]["std"] == pytest.approx(math.sqrt(8 / 3))
    assert eurosat["cells"]["MMA"]["base"]["per_seed"] == {"1": 80.0, "2": 82.0, "3": 84.0}


def test_paired_t_test_hand_case():
    # differences 1, 2, 4: mean 7/3, sample variance 7/3, t = (7/3) / sqrt(7/9) = sqrt(7); with 2 degrees
    # of freedom the two-sided p-value is 1 - t / sqrt(t^2 + 2) = 1 - sqrt(7) / 3.
    result = paired_t_test({1: 80.0, 2: 82.0, 3: 84.0}, {1: 79.0, 2: 80.0, 3: 80.0})
    assert result.diff == pytest.approx(7 / 3)
    assert result.p_value == pytest.approx(1 - math.sqrt(7) / 3)
    assert not result.significant and result.n == 3


def test_bootstrap_hand_cases():
    right, wrong = np.ones(40, dtype=bool), np.zeros(40, dtype=bool)
    clear = bootstrap_images([right], [wrong])
    assert (clear.diff, clear.p_value, clear.ci95) == (100.0, 0.0, (100.0, 100.0))
    same = bootstrap_images([right], [right.copy()])
    assert (same.diff, same.p_value) == (0.0, 1.0)
    half = np.arange(40) % 2 == 0
    hm_case = bootstrap_images([right, half], [half, half], combine="hm")
    assert hm_case.diff == pytest.approx(hm(100, 50) - 50.0)


def test_compare_methods_paired_over_seeds(tables):
    result = compare_methods(tables, "MMA", "CoOp")
    row = next(r for r in result.records if (r["table"], r["row"], r["metric"]) == ("base2new", "eurosat", "base"))
    assert row["diff"] == pytest.approx(7 / 3) and row["p_value"] == pytest.approx(1 - math.sqrt(7) / 3)
    assert row["verdict"] == "within noise"
    novel = next(r for r in result.records if (r["table"], r["row"], r["metric"]) == ("base2new", "eurosat", "novel"))
    assert (novel["diff"], novel["p_value"], novel["verdict"]) == (10.0, 0.0, "MMA better")
    assert {r["table"] for r in result.records} == {"base2new", "xd", "fewshot"}
    with pytest.raises(CompareError, match="No method 'Nope'.*Pass one of: .*MMA"):
        compare_methods(tables, "Nope", "CoOp")


def test_compare_methods_bootstraps_a_single_seed(tmp_path):
    root = tmp_path / "output"
    targets = list(range(10)) * 4
    for trainer, cfg, correct in ((MMA, "vit_b16_ep5", 40), (COOP, "vit_b16_ctxv1", 0)):
        for phase in ("train_base", "test_new"):
            folder = run(root, b2n(phase, "dtd", trainer, cfg, 1), 100.0 * correct / 40)
            set_predictions(folder, targets, [t if i < correct else (t + 1) % 10 for i, t in enumerate(targets)])
    result = compare_methods(build_tables(str(root)), "MMA", "CoOp")
    dtd = [r for r in result.records if r["row"] == "dtd"]
    assert [(r["metric"], r["diff"], r["p_value"], r["verdict"]) for r in dtd] == [
        ("base", 100.0, 0.0, "MMA better"), ("novel", 100.0, 0.0, "MMA better"), ("HM", 100.0, 0.0, "MMA better")]
    assert "bootstrap over 40 test images" in dtd[0]["test"]


def test_compare_published_flags_beyond_seed_noise(tables):
    published = load_published()
    result = compare_published(tables, published)
    by_cell = {(r["method"], r["table"], r["row"], r["metric"]): r for r in result.records}
    eurosat = by_cell[("MMA", "base2new", "eurosat", "HM")]
    ours = hm(82, 70)
    assert eurosat["published"] == 83.87 and eurosat["diff"] == pytest.approx(ours - 83.87)
    assert eurosat["noise_kind"] == "seed std" and eurosat["beyond_noise"] is (abs(ours - 83.87) > eurosat["noise"])
    average = by_cell[("MMA", "base2new", "average", "HM")]
    assert average["diff"] == pytest.approx(hm((82 + 70 + 70) / 3, (70 + 60 + 60) / 3) - 79.87)
    assert average["beyond_noise"] is True
    assert by_cell[("MMA", "base2new", "caltech101", "HM")]["diff"] is None  # published, not run here
    assert ["MMA", "base2new", "caltech101", "HM", "not run", "96.15"] == next(
        row[:6] for row in result.rows if row[:3] == ["MMA", "base2new", "caltech101"])
    assert by_cell[("CoOp", "xd", "source", "accuracy")]["diff"] == pytest.approx(70.0 - 71.51)
    assert all(r["source"] in published["sources"] for r in result.records)


def test_compare_published_uses_typical_noise_with_one_seed(tmp_path):
    root = tmp_path / "output"
    b2n_pair(root, "eurosat", MMA, "vit_b16_ep5", 1, 84.0, 83.0)
    b2n_pair(root, "caltech101", MMA, "vit_b16_ep5", 1, 97.0, 90.0)
    records = {r["row"]: r for r in compare_published(build_tables(str(root))).records if r["metric"] == "HM"}
    assert (records["eurosat"]["noise"], records["eurosat"]["noise_kind"]) == (3.5, "typical")
    assert records["eurosat"]["beyond_noise"] is False  # 83.50 against 83.87
    assert records["caltech101"]["noise"] == 1.0 and records["caltech101"]["beyond_noise"] is True  # 93.42 vs 96.15


def test_published_file_names_a_source_for_every_number_and_matches_reproduce_md():
    published = load_published()
    assert all(entry["source"] in published["sources"] for entry in published["numbers"])
    mma = {(e["table"], e["row"]): e for e in published["numbers"] if e["method"] == "MMA"}
    assert (mma[("base2new", "average")]["HM"], mma[("xd", "average")]["accuracy"], mma[("dg", "average")]["accuracy"]) \
        == (79.87, 66.61, 60.48)
    # the published average HM is the HM of the averaged base and novel (checked on two rows)
    for method in ("MMA", "CoOp"):
        row = next(e for e in published["numbers"] if (e["method"], e["table"], e["row"]) == (method, "base2new", "average"))
        assert round(hm(row["base"], row["novel"]), 2) == row["HM"]
    noise = yaml.safe_load((REPO_ROOT / "docs" / "published.yaml").read_text())["typical_noise"]
    reproduce = (REPO_ROOT / "docs" / "REPRODUCE.md").read_text()
    for label, value in (("DTD, EuroSAT", noise["small_dataset"]), ("other datasets", noise["dataset"]),
                         ("averages", noise["average"])):
        assert re.search(rf"^\| {label} \| {value} \|", reproduce, re.M), label


def count_series(fig):
    """Per visible panel: its bar series, else its error-bar series, else its lines."""
    counts = []
    for ax in (ax for ax in fig.axes if ax.axison):
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        errorbars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        counts.append(len(bars) or len(errorbars) or len(ax.lines))
    return counts


def test_every_figure_has_one_series_per_method(tables, root):
    figures = build_figures(tables, [str(root / b2n("train_base", "dtd", MMA, "vit_b16_ep5", 1))])
    assert sorted(figures) == ["base_vs_novel", "fewshot_curves", "hm_per_dataset", "study_label_noise",
                               "training_curves_CoOp", "training_curves_MMA", "training_curves_selected",
                               "xd_per_target"]
    assert count_series(figures["base_vs_novel"]) == [2]
    assert count_series(figures["hm_per_dataset"]) == [2]
    assert count_series(figures["xd_per_target"]) == [2]
    assert count_series(figures["fewshot_curves"]) == [2, 2]  # dtd and the average panel
    assert count_series(figures["study_label_noise"]) == [1]
    assert [len(ax.lines) for ax in figures["training_curves_MMA"].axes] == [3, 3, 3]  # 3 datasets
    assert [len(ax.lines) for ax in figures["training_curves_selected"].axes] == [1, 1, 1]
    study = figures["study_label_noise"].axes[0]
    assert list(study.containers[0].lines[0].get_xdata()) == [0.0, 0.1, 0.3]


def test_training_curves_from_a_resumed_log(tmp_path):
    line = "epoch [{e}/3] batch [2/2] time 0.1 (0.1) data 0.0 (0.0) loss {v} ({a}) acc 50.0 ({acc}) lr {lr} eta 0:00:01\n"
    (tmp_path / "log.txt").write_text(
        line.format(e=1, v=2.0, a=1.5, acc=40.0, lr="2.0000e-03") + line.format(e=2, v=1.0, a=1.25, acc=55.0, lr="1.0000e-03")
        + "Resumed from resume.pth\n" + line.format(e=2, v=1.0, a=1.0, acc=60.0, lr="1.0000e-03")
        + line.format(e=3, v=0.5, a=0.5, acc=70.0, lr="2.5000e-04"))
    curves = read_curves(str(tmp_path))
    assert curves.epochs == [1, 2, 3]
    assert curves.meters == {"loss": [1.5, 1.0, 0.5], "acc": [40.0, 60.0, 70.0]}
    assert curves.lr == [2e-3, 1e-3, 2.5e-4]


class PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.figures, self.images, self.open = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in ("meta", "img", "br"):
            self.open.append(tag)
        self.tables += [attrs["data-table"]] if "data-table" in attrs else []
        self.figures += [attrs["data-figure"]] if "data-figure" in attrs else []
        self.images += [attrs["src"]] if tag == "img" else []

    def handle_endtag(self, tag):
        assert self.open.pop() == tag


def test_write_report_writes_tables_figures_and_a_self_contained_page(root, tmp_path):
    written = write_report(str(root), str(tmp_path / "report"))
    names = {Path(p).name for p in written["tables"]}
    assert {"base2new.md", "base2new.tex", "base2new.csv", "base2new.json", "compare_published.md"} <= names
    figures = {Path(p).name for p in written["figures"]}
    assert {"base_vs_novel.png", "base_vs_novel.pdf", "fewshot_curves.pdf", "study_label_noise.png"} <= figures
    for path in written["figures"]:
        data = Path(path).read_bytes()
        assert data[:4] in (b"\x89PNG", b"%PDF") and len(data) > 1000
    html = Path(written["html"][0]).read_text()
    parser = PageParser()
    parser.feed(html)
    assert parser.open == []
    assert parser.tables == ["base2new", "xd", "fewshot", "study_label_noise", "compare_published"]
    assert sorted(parser.figures) == sorted(Path(p).stem for p in written["figures"] if p.endswith(".png"))
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
    assert "http" not in re.sub(r"https://github\.com/\S+", "", html)  # nothing fetched from a server
    assert Path(written["missing"][0]).read_text() == "No missing runs.\n"


def test_command_line_compare_figures_and_html(root, tmp_path, capsys):
    assert report.main([str(root), "--compare", "MMA", "CoOp"]) == 0
    out = capsys.readouterr().out
    assert "### MMA against CoOp" in out and "paired t-test over 3 seeds" in out
    assert report.main([str(root), "--compare", "MMA"]) == 2
    assert "--compare takes 'published' or two method names" in capsys.readouterr().err
    small = tmp_path / "output"
    b2n_pair(small, "eurosat", MMA, "vit_b16_ep5", 1, 80.0, 70.0)
    assert report.main([str(small), "--compare", "published", "--figures", str(tmp_path / "f"),
                        "--html", str(tmp_path / "h")]) == 0
    out = capsys.readouterr().out
    assert "### Ours against the published numbers" in out and "3.50 (typical)" in out
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        f"{stem}.{ext}" for stem in ("base_vs_novel", "hm_per_dataset", "training_curves_MMA") for ext in ("pdf", "png")]
    assert "Ours against the published numbers" in (tmp_path / "h" / "report.html").read_text()


def test_page_escapes_text():
    text = page("a <b> & c", [], {}, "root <x>")
    assert "<title>a &lt;b&gt; &amp; c</title>" in text and "root &lt;x&gt;" in text
