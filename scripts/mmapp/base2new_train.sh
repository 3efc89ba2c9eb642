#!/usr/bin/env bash
# Train MMA++ on 16 shots of DATASET's base classes; the run ends with its test on the base classes.
# usage: bash scripts/mmapp/base2new_train.sh DATASET SEED [CFG=b2n_cupl (ImageNet: b2n_cupl_imnet)]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_train "$@"
