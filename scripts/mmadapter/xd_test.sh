#!/usr/bin/env bash
# Evaluate the ImageNet-trained MMA model on DATASET (an ImageNet variant goes to output/dg/).
# usage: bash scripts/mmadapter/xd_test.sh DATASET SEED [CFG=vit_b16_ep1_xd] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_test "$@"
