# PromptSRC's names for scripts/lib.sh; sourced by every script in this folder. Base-to-novel uses the
# released 20-epoch config, cross-dataset / DG the released depth-3 one (the reference's xd scripts name
# a file that does not exist), few-shot the released 50-epoch one.
TRAINER=PromptSRC
DEFAULT_CFG="vit_b16_c2_ep20_batch4_4+4ctx"
XD_CFG="vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets"
FEWSHOT_CFG="vit_b16_c2_ep50_batch4_4+4ctx_few_shot"
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

fewshot_default_cfg() {  # the release's GPA setting for DATASET: 45 / 5 on five datasets, 30 / 30 elsewhere
    if [[ " stanford_cars oxford_flowers fgvc_aircraft dtd eurosat " == *" $1 "* ]]; then
        echo "${FEWSHOT_CFG}_gpa45"
    else
        echo "$FEWSHOT_CFG"
    fi
}
