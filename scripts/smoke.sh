#!/usr/bin/env bash
# The offline main job: MMA's whole base-to-novel protocol on CPU, through the real scripts.
#
# Builds tiny fake copies of two datasets and a tiny random CLIP, then for each dataset and seed
# runs scripts/mmadapter/base2new_train.sh (train on the base classes, test on base) and
# base2new_test.sh (test on the new classes), and prints the table with tools/report.py.
# The numbers are meaningless (random weights, fake images); everything else is the real thing.
#
# usage: bash scripts/smoke.sh [WORK]
#   WORK  folder for the data, the tiny CLIP and the outputs (default: smoke/ in the repository)
# Re-running is safe and fast: what exists is reused and finished runs are skipped.
# Environment: PYTHON (default python), SMOKE_DATASETS (default "eurosat dtd"), SMOKE_SEEDS ("1 2"),
# QUIET (default 1: each run's output goes only to its log.txt; 0 shows it), EXTRA_OPTS (KEY VALUE
# overrides appended to the smoke settings, e.g. "TRAINER.MMADAPTER.EVAL_PREC bf16"), CONFIG_TAG (the
# runs' config folder is vit_b16_ep5_<CONFIG_TAG>; default "smoke", see below).
set -euo pipefail
START_SECONDS=$SECONDS

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${1:-$REPO_ROOT/smoke}"
PYTHON="${PYTHON:-python}"
SMOKE_DATASETS="${SMOKE_DATASETS:-eurosat dtd}"
SMOKE_SEEDS="${SMOKE_SEEDS:-1 2}"
if [[ "$WORK" == *" "* ]]; then
    echo "error: the work folder '$WORK' contains a space; pass a path without spaces" >&2
    exit 1
fi
if ! command -v "$PYTHON" > /dev/null; then
    echo "error: no Python interpreter '$PYTHON': activate the project's environment or set PYTHON (e.g. PYTHON=python3)" >&2
    exit 1
fi
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"

DATA_MARKER="$WORK/data/.fake_datasets"
if [[ ! -f "$DATA_MARKER" || "$(cat "$DATA_MARKER")" != "$SMOKE_DATASETS" ]]; then
    rm -rf "$WORK/data"
    "$PYTHON" "$REPO_ROOT/tools/make_fake_datasets.py" "$WORK/data" --names $SMOKE_DATASETS
    echo "$SMOKE_DATASETS" > "$DATA_MARKER"
fi
CLIP_FILE="$WORK/tiny_clip_vit.pt"
if [[ ! -f "$CLIP_FILE" ]]; then
    "$PYTHON" "$REPO_ROOT/tools/make_tiny_clip.py" --arch vit --out "$CLIP_FILE"
fi

# The smoke settings are not the paper's: the runs go to the config folder vit_b16_ep5_smoke, or
# vit_b16_ep5_smoke_<hash> when the caller's EXTRA_OPTS can change the numbers (tools/config_tag.py).
CALLER_OPTS_HASH=""
if [[ -n "${EXTRA_OPTS:-}" ]]; then
    read -r -a CALLER_OPTS <<< "$EXTRA_OPTS"
    CALLER_OPTS_HASH="$("$PYTHON" "$REPO_ROOT/tools/config_tag.py" "${CALLER_OPTS[@]}")"
fi
export CONFIG_TAG="${CONFIG_TAG:-smoke${CALLER_OPTS_HASH:+_$CALLER_OPTS_HASH}}"

# The tiny CLIP has 2 blocks per tower and 32x32 inputs: adapters go into blocks 1..2.
export DATA="$WORK/data" OUTPUT="$WORK/output" PYTHON QUIET="${QUIET:-1}"
export EXTRA_OPTS="DATALOADER.NUM_WORKERS 0 USE_CUDA False MODEL.BACKBONE.NAME $CLIP_FILE INPUT.SIZE (32,32) TRAINER.MMADAPTER.ADAPTER_START 1 TRAINER.MMADAPTER.ADAPTER_END 2 ${EXTRA_OPTS:-}"
for dataset in $SMOKE_DATASETS; do
    for seed in $SMOKE_SEEDS; do
        bash "$REPO_ROOT/scripts/mmadapter/base2new_train.sh" "$dataset" "$seed"
        bash "$REPO_ROOT/scripts/mmadapter/base2new_test.sh" "$dataset" "$seed"
    done
done

echo
"$PYTHON" "$REPO_ROOT/tools/report.py" "$OUTPUT"
echo
echo "Smoke run finished in $((SECONDS - START_SECONDS)) s (work folder: $WORK)"
