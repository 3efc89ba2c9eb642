#!/usr/bin/env bash
# Zero-shot CLIP on DATASET, all its classes (an ImageNet variant goes to output/dg/).
# usage: bash scripts/zsclip/xd_test.sh DATASET SEED [CFG=vit_b16]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_test "$@"
