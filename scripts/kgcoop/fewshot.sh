#!/usr/bin/env bash
# Train KgCoOp on SHOTS images of every class of DATASET and test on all classes.
# usage: bash scripts/kgcoop/fewshot.sh DATASET SEED SHOTS [CFG=vit_b16_ep100_ctxv1]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
