#!/usr/bin/env bash
# The whole base-to-novel table for one seed on one GPU ($DATASETS, ImageNet with vit_b16_ep5_imnet), then the tables.
# usage: bash scripts/mmadapter/run_examples.sh GPU|cpu SEED
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_examples "$@"
