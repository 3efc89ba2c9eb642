#!/usr/bin/env bash
# Train MMA on SHOTS images of every class of DATASET and test on all classes.
# usage: bash scripts/mmadapter/fewshot.sh DATASET SEED SHOTS [CFG=vit_b16_fewshot_<SHOTS>shot]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
