#!/usr/bin/env bash
# Train the attention adapter on 16 shots of DATASET's base classes; the run ends with its test on base.
# usage: bash scripts/attnmma/base2new_train.sh DATASET SEED [CFG=vit_b16_coop|vit_b16_reference]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_train "$@"
