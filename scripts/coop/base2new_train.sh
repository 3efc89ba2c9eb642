#!/usr/bin/env bash
# Train CoOp on 16 shots of DATASET's base classes; the run ends with its test on the base classes.
# usage: bash scripts/coop/base2new_train.sh DATASET SEED [CFG=vit_b16_ctxv1 (ImageNet: vit_b16_ep50_ctxv1)]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_train "$@"
