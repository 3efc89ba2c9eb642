#!/usr/bin/env bash
# Cross-dataset and DG tables for one seed: train on ImageNet once, test $XD_DATASETS and $DG_DATASETS.
# usage: bash scripts/mmadapter/run_xd_dg.sh GPU|cpu SEED [CFG=vit_b16_ep1_xd]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_xd_dg "$@"
