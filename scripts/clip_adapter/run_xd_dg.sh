#!/usr/bin/env bash
# Cross-dataset and DG tables of CLIP-Adapter for one seed: ImageNet once, then $XD_DATASETS and $DG_DATASETS.
# usage: bash scripts/clip_adapter/run_xd_dg.sh GPU|cpu SEED [CFG=vit_b16_ep50]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_xd_dg "$@"
