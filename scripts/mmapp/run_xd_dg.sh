#!/usr/bin/env bash
# Cross-dataset and DG tables of MMA++ for one seed: ImageNet once, then $XD_DATASETS and $DG_DATASETS.
# usage: bash scripts/mmapp/run_xd_dg.sh GPU|cpu SEED [CFG=x2d]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_xd_dg "$@"
