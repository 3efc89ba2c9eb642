# KgCoOp's names for scripts/lib.sh; sourced by every script in this folder.
# Base-to-novel, ImageNet included, and few-shot use the released recipe (vit_b16_ep100_ctxv1: batch
# 128 everywhere, W 8.0; the reference's 4-shot all-class script uses it too). Cross-dataset / DG is
# our choice (the reference releases none): the same recipe on ImageNet (vit_b16_ep100_ctxv1_xd).
TRAINER=KgCoOp
DEFAULT_CFG=vit_b16_ep100_ctxv1
XD_CFG=vit_b16_ep100_ctxv1_xd
FEWSHOT_CFG=vit_b16_ep100_ctxv1
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
