# CoOp's names for scripts/lib.sh; sourced by every script in this folder.
# Base-to-novel and cross-dataset use the settings CoCoOp's scripts name for CoOp: context "a photo of a"
# (4 words), 200 epochs (vit_b16_ctxv1), and 50 epochs on ImageNet (vit_b16_ep50_ctxv1).
TRAINER=CoOp
DEFAULT_CFG=vit_b16_ctxv1
IMAGENET_CFG=vit_b16_ep50_ctxv1
XD_CFG=vit_b16_ep50_ctxv1
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fewshot_schedule.sh"
fewshot_default_cfg() { coop_fewshot_cfg "$@"; }
