#!/usr/bin/env bash
# Train PromptSRC on 16 shots of DATASET's base classes; the run ends with its test on the base classes.
# usage: bash scripts/promptsrc/base2new_train.sh DATASET SEED [CFG=vit_b16_c2_ep20_batch4_4+4ctx]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_train "$@"
