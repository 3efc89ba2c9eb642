#!/usr/bin/env bash
# Cross-dataset and DG tables of CoCoOp for one seed: ImageNet once, then $XD_DATASETS and $DG_DATASETS.
# usage: bash scripts/cocoop/run_xd_dg.sh GPU|cpu SEED [CFG=vit_b16_c4_ep10_batch1_ctxv1]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_xd_dg "$@"
