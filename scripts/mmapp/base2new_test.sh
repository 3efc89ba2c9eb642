#!/usr/bin/env bash
# Evaluate MMA++ on DATASET's new classes (the base-trained model when there is one).
# usage: bash scripts/mmapp/base2new_test.sh DATASET SEED [CFG=b2n_cupl (ImageNet: b2n_cupl_imnet)] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_test "$@"
