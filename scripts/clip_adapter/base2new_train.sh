#!/usr/bin/env bash
# Train CLIP-Adapter on 16 shots of DATASET's base classes; the run ends with its test on the base classes.
# usage: bash scripts/clip_adapter/base2new_train.sh DATASET SEED [CFG=vit_b16 (ImageNet: vit_b16_ep50)]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_train "$@"
