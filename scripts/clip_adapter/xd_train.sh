#!/usr/bin/env bash
# Train CLIP-Adapter on 16 shots of all ImageNet classes (source of the cross-dataset and DG tables).
# usage: bash scripts/clip_adapter/xd_train.sh SEED [CFG=vit_b16_ep50]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_train "$@"
