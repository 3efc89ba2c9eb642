#!/usr/bin/env bash
# Zero-shot CLIP on all ImageNet classes (the source row of the cross-dataset and DG tables).
# usage: bash scripts/zsclip/xd_train.sh SEED [CFG=vit_b16]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_train "$@"
