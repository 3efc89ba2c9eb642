#!/usr/bin/env bash
# Train PromptSRC on SHOTS images of every class of DATASET and test on all classes. The default config
# is the released few-shot one with the GPA setting the release prescribes for DATASET (45 / 5 for
# stanford_cars, oxford_flowers, fgvc_aircraft, dtd, eurosat; 30 / 30 otherwise).
# usage: bash scripts/promptsrc/fewshot.sh DATASET SEED SHOTS [CFG]
source "$(dirname "${BASH_SOURCE[0]}")/settings.sh"
fewshot "$@"
