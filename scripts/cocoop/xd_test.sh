#!/usr/bin/env bash
# Evaluate the ImageNet CoCoOp model on DATASET (an ImageNet variant goes to output/dg/).
# usage: bash scripts/cocoop/xd_test.sh DATASET SEED [CFG=vit_b16_c4_ep10_batch1_ctxv1] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_test "$@"
