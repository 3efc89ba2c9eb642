#!/usr/bin/env bash
# Zero-shot CLIP on DATASET's base classes (nothing to train: it evaluates, in the training run's folder).
# usage: bash scripts/zsclip/base2new_train.sh DATASET SEED [CFG=vit_b16]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
base2new_train "$@"
