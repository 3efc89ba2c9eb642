#!/usr/bin/env bash
# Train MMA++ on 16 shots of all ImageNet classes (source of the cross-dataset and DG tables).
# usage: bash scripts/mmapp/xd_train.sh SEED [CFG=x2d]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
xd_train "$@"
