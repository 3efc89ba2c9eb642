#!/usr/bin/env bash
# Fit the linear probe on SHOTS images of every class of DATASET (C searched on the few-shot val split) and test on all classes.
# usage: bash scripts/linear_probe/fewshot.sh DATASET SEED SHOTS [CFG=vit_b16]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
