#!/usr/bin/env bash
# Evaluate the ImageNet PromptSRC model on DATASET (an ImageNet variant goes to output/dg/).
# usage: bash scripts/promptsrc/xd_test.sh DATASET SEED [CFG=vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_test "$@"
