#!/usr/bin/env bash
# Evaluate the ImageNet MaPLe model on DATASET (an ImageNet variant goes to output/dg/).
# usage: bash scripts/maple/xd_test.sh DATASET SEED [CFG=vit_b16_c2_ep5_batch4_2ctx_cross_datasets] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_test "$@"
