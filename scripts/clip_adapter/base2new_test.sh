#!/usr/bin/env bash
# Evaluate CLIP-Adapter on DATASET's new classes (the base-trained model when there is one).
# usage: bash scripts/clip_adapter/base2new_test.sh DATASET SEED [CFG=vit_b16 (ImageNet: vit_b16_ep50)] [LOADEP=last saved]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_test "$@"
