# MaPLe's names for scripts/lib.sh; sourced by every script in this folder. Base-to-novel (ImageNet
# included) uses the released 5-epoch depth-9 config, cross-dataset / DG the 2-epoch depth-3 one.
TRAINER=MaPLe
DEFAULT_CFG=vit_b16_c2_ep5_batch4_2ctx
XD_CFG=vit_b16_c2_ep5_batch4_2ctx_cross_datasets
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
