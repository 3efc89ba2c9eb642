#!/usr/bin/env bash
# Train on ImageNet once, then score the 10 cross-dataset targets and the 4 ImageNet variants; tables.
# usage: bash scripts/attnmma/run_xd_dg.sh GPU|cpu SEED [CFG=vit_b16_coop]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_xd_dg "$@"
