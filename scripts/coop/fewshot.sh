#!/usr/bin/env bash
# Train CoOp on SHOTS images of every class of DATASET and test on all classes.
# usage: bash scripts/coop/fewshot.sh DATASET SEED SHOTS [CFG=vit_b16_ep50 for 1 shot and ImageNet, vit_b16_ep100 for 2-4, vit_b16 for 8-16]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
