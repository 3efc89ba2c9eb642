#!/usr/bin/env bash
# Train CoCoOp on 16 shots of all ImageNet classes (source of the cross-dataset and DG tables).
# usage: bash scripts/cocoop/xd_train.sh SEED [CFG=vit_b16_c4_ep10_batch1_ctxv1]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_train "$@"
