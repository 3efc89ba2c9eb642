#!/usr/bin/env bash
# Score DATASET's new classes with the base-trained adapter (under vit_b16_reference: its best checkpoint).
# usage: bash scripts/attnmma/base2new_test.sh DATASET SEED [CFG=vit_b16_coop|vit_b16_reference] [LOADEP]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_test "$@"
