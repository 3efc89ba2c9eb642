#!/usr/bin/env bash
# Evaluate the ImageNet KgCoOp model on DATASET (an ImageNet variant goes to output/dg/).
# usage: bash scripts/kgcoop/xd_test.sh DATASET SEED [CFG=vit_b16_ep100_ctxv1_xd] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_test "$@"
