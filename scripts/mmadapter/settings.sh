# MMA's names for scripts/lib.sh; sourced by every script in this folder.
TRAINER=MultiModalAdapter
DEFAULT_CFG=vit_b16_ep5
IMAGENET_CFG=vit_b16_ep5_imnet
XD_CFG=vit_b16_ep1_xd
FEWSHOT_CFG="vit_b16_fewshot_{shots}shot"
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
