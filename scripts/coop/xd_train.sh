#!/usr/bin/env bash
# Train CoOp on 16 shots of all ImageNet classes (source of the cross-dataset and DG tables).
# usage: bash scripts/coop/xd_train.sh SEED [CFG=vit_b16_ep50_ctxv1]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_train "$@"
