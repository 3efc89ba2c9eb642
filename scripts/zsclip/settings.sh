# Zero-shot CLIP's names for scripts/lib.sh; sourced by every script in this folder. Nothing is
# trained: every run is an evaluation (NO_TRAINING=1), with the per-dataset hand-written template;
# pass CFG vit_b16_ensemble for the prompt ensemble.
TRAINER=ZeroshotCLIP
DEFAULT_CFG=vit_b16
NO_TRAINING=1
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
