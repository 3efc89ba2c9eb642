#!/usr/bin/env bash
# Train KgCoOp on 16 shots of DATASET's base classes; the run ends with its test on the base classes.
# usage: bash scripts/kgcoop/base2new_train.sh DATASET SEED [CFG=vit_b16_ep100_ctxv1]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_train "$@"
