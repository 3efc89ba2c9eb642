#!/usr/bin/env bash
# Train MaPLe on 16 shots of all ImageNet classes (source of the cross-dataset and DG tables).
# usage: bash scripts/maple/xd_train.sh SEED [CFG=vit_b16_c2_ep5_batch4_2ctx_cross_datasets]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_train "$@"
