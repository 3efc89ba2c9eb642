# CLIP-Adapter's names for scripts/lib.sh; sourced by every script in this folder. The release ships
# no scripts and says to follow CoOp's commands, so CoOp's schedules are used (configs/trainers/
# CLIP_Adapter/*.yaml say so); pass CFG vit_b16_arxiv for the arXiv 2409.02958 rerun.
TRAINER=CLIP_Adapter
DEFAULT_CFG=vit_b16
IMAGENET_CFG=vit_b16_ep50
XD_CFG=vit_b16_ep50
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../coop/fewshot_schedule.sh"
fewshot_default_cfg() { coop_fewshot_cfg "$@"; }
