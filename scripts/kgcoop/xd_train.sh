#!/usr/bin/env bash
# Train KgCoOp on 16 shots of all ImageNet classes (source of the cross-dataset and DG tables).
# usage: bash scripts/kgcoop/xd_train.sh SEED [CFG=vit_b16_ep100_ctxv1_xd]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_train "$@"
