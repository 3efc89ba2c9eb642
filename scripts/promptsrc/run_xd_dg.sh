#!/usr/bin/env bash
# Cross-dataset and DG tables of PromptSRC for one seed: ImageNet once, then $XD_DATASETS and $DG_DATASETS.
# usage: bash scripts/promptsrc/run_xd_dg.sh GPU|cpu SEED [CFG=vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_xd_dg "$@"
