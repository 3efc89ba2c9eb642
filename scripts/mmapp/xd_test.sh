#!/usr/bin/env bash
# Evaluate the ImageNet MMA++ model on DATASET (an ImageNet variant goes to output/dg/).
# usage: bash scripts/mmapp/xd_test.sh DATASET SEED [CFG=x2d] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_test "$@"
