#!/usr/bin/env bash
# Train CoCoOp on SHOTS images of every class of DATASET and test on all classes.
# usage: bash scripts/cocoop/fewshot.sh DATASET SEED SHOTS [CFG=vit_b16_c4_ep10_batch1_ctxv1]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
