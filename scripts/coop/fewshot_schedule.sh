# CoOp's few-shot schedule (its scripts' documented choice): 50 epochs for 1 shot, 100 for 2 and 4,
# 200 for 8 and 16, and always 50 on ImageNet, with 16 random context vectors and the class token at
# the end. CLIP-Adapter's configs carry the same names, so its scripts reuse this.
coop_fewshot_cfg() {  # coop_fewshot_cfg DATASET SHOTS: the config name for that run
    if [[ "$1" == imagenet ]]; then echo vit_b16_ep50; return; fi
    case "$2" in
        1) echo vit_b16_ep50 ;;
        2 | 4) echo vit_b16_ep100 ;;
        *) echo vit_b16 ;;
    esac
}
