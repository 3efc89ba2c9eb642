#!/usr/bin/env bash
# The whole base-to-novel table of PromptSRC for one seed on one GPU ($DATASETS), then the tables.
# usage: bash scripts/promptsrc/run_examples.sh GPU|cpu SEED
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
run_examples "$@"
