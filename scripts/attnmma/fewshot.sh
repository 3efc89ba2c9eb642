#!/usr/bin/env bash
# Train the attention adapter on SHOTS images of every class of DATASET and test on all classes.
# usage: bash scripts/attnmma/fewshot.sh DATASET SEED SHOTS [CFG=vit_b16_coop]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
