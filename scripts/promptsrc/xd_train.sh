#!/usr/bin/env bash
# Train PromptSRC on 16 shots of all ImageNet classes (source of the cross-dataset and DG tables).
# usage: bash scripts/promptsrc/xd_train.sh SEED [CFG=vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_train "$@"
