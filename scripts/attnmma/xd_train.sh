#!/usr/bin/env bash
# Train the attention adapter on 16 shots of all 1000 ImageNet classes (cross-dataset / DG source).
# usage: bash scripts/attnmma/xd_train.sh SEED [CFG=vit_b16_coop]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_train "$@"
