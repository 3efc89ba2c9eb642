# MMA++'s names for scripts/lib.sh; sourced by every script in this folder.
# Base-to-novel uses the released b2n_cupl (LLM descriptions; fetch them once with
# `python tools/download_data.py DATA --cupl`), cross-dataset / DG the released x2d. Our choices, as the
# reference ships none: ImageNet base-to-novel with b2n_cupl_imnet (x2d's schedule, b2n_cupl's adapter
# values; the reference's run_b2n.sh leaves ImageNet out), and few-shot with b2n_cupl.
TRAINER=MultiModalAdapterPP
DEFAULT_CFG=b2n_cupl
IMAGENET_CFG=b2n_cupl_imnet
XD_CFG=x2d
FEWSHOT_CFG=b2n_cupl
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
