#!/usr/bin/env bash
# A whole study (scripts/attnmma/study.sh) for several methods and datasets, then one table per setting.
# usage: bash scripts/attnmma/run_study.sh STUDY GPU|cpu SEED
# Environment: STUDY_METHODS (default "attnmma mmadapter clip_adapter"; heads and prompts: attnmma),
# STUDY_DATASETS (default: the four datasets of the reference's base:new ratio figure), plus every
# setting list of study.sh, OUTPUT, DATA, EXTRA_OPTS, PYTHON.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -eq 3 ]] || { echo "usage: bash $0 STUDY GPU|cpu SEED" >&2; exit 2; }
STUDY="$1" GPU="$2" SEED="$3"
if [[ "$GPU" == cpu ]]; then
    export CUDA_VISIBLE_DEVICES=""
    export EXTRA_OPTS="${EXTRA_OPTS:-} USE_CUDA False"
else
    export CUDA_VISIBLE_DEVICES="$GPU"
fi
DEFAULT_METHODS="attnmma mmadapter clip_adapter"
if [[ "$STUDY" == heads || "$STUDY" == prompts ]]; then DEFAULT_METHODS=attnmma; fi
for dataset in ${STUDY_DATASETS:-fgvc_aircraft caltech101 oxford_flowers oxford_pets}; do
    for method in ${STUDY_METHODS:-$DEFAULT_METHODS}; do
        bash "$HERE/study.sh" "$STUDY" "$method" "$dataset" "$SEED"
    done
done
STUDY_ROOT="${OUTPUT:-output}"
STUDY_ROOT="${STUDY_ROOT%/}/studies/$STUDY"
for setting in "$STUDY_ROOT"/*/; do
    setting="${setting%/}"
    if [[ "$(basename "$setting")" == clean && "$STUDY" == text_noise ]]; then continue; fi
    echo
    echo "##### $STUDY: $(basename "$setting")"
    "${PYTHON:-python}" "$HERE/../../tools/report.py" "$setting"
done
