#!/usr/bin/env bash
# Score every class of DATASET with the ImageNet-trained adapter (cross-dataset, or DG for the variants).
# usage: bash scripts/attnmma/xd_test.sh DATASET SEED [CFG=vit_b16_coop] [LOADEP]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_test "$@"
