#!/usr/bin/env bash
# Train MaPLe on SHOTS images of every class of DATASET and test on all classes. MaPLe released no
# few-shot config; the default is its base-to-novel one.
# usage: bash scripts/maple/fewshot.sh DATASET SEED SHOTS [CFG=vit_b16_c2_ep5_batch4_2ctx]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
