#!/usr/bin/env bash
# Evaluate MaPLe on DATASET's new classes (the base-trained model).
# usage: bash scripts/maple/base2new_test.sh DATASET SEED [CFG=vit_b16_c2_ep5_batch4_2ctx] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_test "$@"
