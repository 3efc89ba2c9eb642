#!/usr/bin/env bash
# The whole base-to-novel table for one seed under CoOp's protocol ($DATASETS), then the tables.
# usage: bash scripts/attnmma/run_examples.sh GPU|cpu SEED
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_examples "$@"
