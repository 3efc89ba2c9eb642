#!/usr/bin/env bash
# Evaluate the base-trained MMA model on DATASET's new classes.
# usage: bash scripts/mmadapter/base2new_test.sh DATASET SEED [CFG=vit_b16_ep5] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_test "$@"
