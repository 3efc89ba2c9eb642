# The linear probe's names for scripts/lib.sh. It cannot score classes it was not fitted on, so it
# has the few-shot protocol only (fewshot.sh); CFG rn50 is CoOp's lpclip backbone.
TRAINER=LinearProbe
DEFAULT_CFG=vit_b16
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
