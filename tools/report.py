"""The paper's tables, comparisons, figures and an HTML page from the runs under an output root.

    python tools/report.py output                               # every table, Markdown, to the terminal
    python tools/report.py output --format latex --out tables/  # one file per table
    python tools/report.py output --compare published           # ours, published, difference per cell
    python tools/report.py output --compare MMA CoOp            # per-dataset differences with a test
    python tools/report.py output --figures figs/ --html site/  # PNG+PDF figures; one self-contained page

Every finished run leaves ``result.json`` in its folder, laid out by the scripts as
``<protocol>/<phase>/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>/`` (docs/REPRODUCE.md); study runs
sit under ``studies/<study>/<setting>/``. Each distinct ``<cfg>`` folder is its own configuration
(a base-to-novel ImageNet config of a method's scripts, like MMA's ``vit_b16_ep5_imnet``, fills the
ImageNet row of its table). Cells are mean ± std over seeds (population std, as parse_test_res.py)
with the seed count; the HM of a dataset is 2BN/(B+N) on the seed means, and the average row's HM is
that of the dataset-averaged base and novel, as the published tables compute it. A table with runs
missing lists them with the command that fills each, and leaves the affected averages out.
docs/REPORTS.md shows every table and figure.
"""
import argparse
import os
import sys
from typing import List, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dassl.utils.errors import FrameworkError, add_debug_flag, run_cli  # noqa: E402
from tools.reporting import (  # noqa: E402
    FORMATS, Table, build_figures, compare_methods, compare_published, find_runs, missing_text, render,
    write_figures, write_tables, write_text,
)
from tools.reporting.compare import CompareError  # noqa: E402
from tools.reporting.figures import close_all  # noqa: E402
from tools.reporting.html_page import page  # noqa: E402
from tools.reporting.tables import all_tables  # noqa: E402

NO_RUNS = "No finished runs (result.json files in the scripts' folder layout) were found."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_root", nargs="?", default="output", help="root the scripts wrote to (default: output)")
    parser.add_argument("--methods", nargs="+", metavar="METHOD",
                        help="only these methods (trainer, display name like MMA, or TRAINER/CFG)")
    parser.add_argument("--format", choices=FORMATS, default="md", help="table format (default: md)")
    parser.add_argument("--out", metavar="DIR", help="write one file per table (and missing_runs.txt) into DIR")
    parser.add_argument("--compare", nargs="+", metavar="WHAT",
                        help="'published' (docs/published.yaml) or two methods A B")
    parser.add_argument("--figures", metavar="DIR", help="write every figure the runs allow (PNG and PDF) into DIR")
    parser.add_argument("--curves", nargs="+", metavar="RUN_DIR", default=(),
                        help="also plot the training curves of these run folders (with --figures or --html)")
    parser.add_argument("--html", metavar="DIR", help="write DIR/report.html: tables and figures on one page")
    add_debug_flag(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        runs = find_runs(args.output_root)
        tables: List = all_tables(runs, args.output_root, args.methods)
        if args.compare:
            if args.compare == ["published"]:
                tables.append(compare_published(tables))
            elif len(args.compare) == 2:
                tables = [compare_methods(tables, *args.compare)]
            else:
                raise CompareError("--compare takes 'published' or two method names (e.g. --compare MMA CoOp), "
                                   f"got {' '.join(args.compare)!r}")
    except FrameworkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not tables:
        print(NO_RUNS)
        return 0
    result_tables = [t for t in tables if isinstance(t, Table)]
    if args.out:
        for path in write_tables(tables, args.out, [args.format]):
            print(f"wrote {path}")
        missing = [run for table in result_tables for run in table.missing]
        print("wrote " + write_text(os.path.join(args.out, "missing_runs.txt"), missing_text(missing)))
    else:
        print(render(tables, args.format), end="")
    if args.figures:
        for paths in write_figures(result_tables, args.figures, args.curves).values():
            print("wrote " + ", ".join(paths))
    if args.html:
        figures = build_figures(result_tables, args.curves)
        path = os.path.join(args.html, "report.html")
        write_text(path, page(f"Results: {args.output_root}", tables, figures, args.output_root))
        close_all(figures)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run_cli(main)
