#!/usr/bin/env bash
# Train CoCoOp on 16 shots of DATASET's base classes; the run ends with its test on the base classes.
# usage: bash scripts/cocoop/base2new_train.sh DATASET SEED [CFG=vit_b16_c4_ep10_batch1_ctxv1]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_train "$@"
