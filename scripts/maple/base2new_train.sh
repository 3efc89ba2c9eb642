#!/usr/bin/env bash
# Train MaPLe on 16 shots of DATASET's base classes; the run ends with its test on the base classes.
# usage: bash scripts/maple/base2new_train.sh DATASET SEED [CFG=vit_b16_c2_ep5_batch4_2ctx]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_train "$@"
