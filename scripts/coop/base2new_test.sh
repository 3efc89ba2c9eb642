#!/usr/bin/env bash
# Evaluate CoOp on DATASET's new classes (the base-trained model when there is one).
# usage: bash scripts/coop/base2new_test.sh DATASET SEED [CFG=vit_b16_ctxv1 (ImageNet: vit_b16_ep50_ctxv1)] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_test "$@"
