#!/usr/bin/env bash
# The whole base-to-novel table for one seed under the reference repository's protocol (floor split,
# 16 + 16 stratified shots, early stopping): vit_b16_reference on every dataset, then the tables.
# usage: bash scripts/attnmma/run_examples_reference.sh GPU|cpu SEED
DEFAULT_CFG=vit_b16_reference
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_examples "$@"
