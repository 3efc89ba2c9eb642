#!/usr/bin/env bash
# Evaluate KgCoOp on DATASET's new classes (the base-trained model when there is one).
# usage: bash scripts/kgcoop/base2new_test.sh DATASET SEED [CFG=vit_b16_ep100_ctxv1] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_test "$@"
