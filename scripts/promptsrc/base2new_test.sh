#!/usr/bin/env bash
# Evaluate PromptSRC on DATASET's new classes (the base-trained model).
# usage: bash scripts/promptsrc/base2new_test.sh DATASET SEED [CFG=vit_b16_c2_ep20_batch4_4+4ctx] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_test "$@"
