#!/usr/bin/env bash
# Cross-dataset and DG tables of zero-shot CLIP for one seed: ImageNet, then $XD_DATASETS and $DG_DATASETS.
# usage: bash scripts/zsclip/run_xd_dg.sh GPU|cpu SEED [CFG=vit_b16]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_xd_dg "$@"
