# CoCoOp's names for scripts/lib.sh; sourced by every script in this folder. CoCoOp's scripts use one
# config everywhere: 4 context words from "a photo of a", batch size 1, 10 epochs.
TRAINER=CoCoOp
DEFAULT_CFG=vit_b16_c4_ep10_batch1_ctxv1
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
