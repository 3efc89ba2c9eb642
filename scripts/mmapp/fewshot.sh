#!/usr/bin/env bash
# Train MMA++ on SHOTS images of every class of DATASET and test on all classes.
# usage: bash scripts/mmapp/fewshot.sh DATASET SEED SHOTS [CFG=b2n_cupl]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
