#!/usr/bin/env bash
# Cross-dataset and DG tables of KgCoOp for one seed: ImageNet once, then $XD_DATASETS and $DG_DATASETS.
# usage: bash scripts/kgcoop/run_xd_dg.sh GPU|cpu SEED [CFG=vit_b16_ep100_ctxv1_xd]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_xd_dg "$@"
