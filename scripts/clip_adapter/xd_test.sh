#!/usr/bin/env bash
# Evaluate the ImageNet CLIP-Adapter model on DATASET (an ImageNet variant goes to output/dg/).
# usage: bash scripts/clip_adapter/xd_test.sh DATASET SEED [CFG=vit_b16_ep50] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_test "$@"
