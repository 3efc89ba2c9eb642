#!/usr/bin/env bash
# Zero-shot CLIP on DATASET's new classes.
# usage: bash scripts/zsclip/base2new_test.sh DATASET SEED [CFG=vit_b16]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_test "$@"
