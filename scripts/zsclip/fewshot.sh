#!/usr/bin/env bash
# Zero-shot CLIP on all classes of DATASET, filed under SHOTS like the trained methods (shots are unused).
# usage: bash scripts/zsclip/fewshot.sh DATASET SEED SHOTS [CFG=vit_b16]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
