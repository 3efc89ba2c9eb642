#!/usr/bin/env bash
# One robustness or ablation study of the attention-adapter paper (arXiv 2409.02958) for one method,
# dataset and seed, in the base-to-novel protocol: for every setting of the study, train on the base
# classes and test on the new ones. docs/ATTNMMA.md describes each study and its config keys.
#
# usage: bash scripts/attnmma/study.sh STUDY METHOD DATASET SEED [CFG]
#   STUDY   image_noise | label_noise | class_ratio | imbalance | text_noise  (any METHOD)
#           heads | prompts                                                (attnmma only)
#   METHOD  attnmma | mmadapter | clip_adapter (a folder of scripts/)
#   CFG     default: attnmma vit_b16_coop, mmadapter its base-to-novel config, clip_adapter
#           vit_b16_arxiv (the variant that paper compared with)
#
# Settings (override with the environment, space-separated):
#   IMAGE_NOISE_STDS ("0.0 0.3"; 0.3 is also run with the reference's leak into test),
#   LABEL_NOISE_RATES ("0.0 0.1 0.2 0.3"), CLASS_RATIOS ("1 3 4 5"), IMBALANCE_FACTORS ("1.0 2.0 4.0 8.0 16.0"),
#   TYPO_RATES ("0.0 0.1 0.2 0.3") with TYPO_KIND (swap | typo), HEADS_LIST ("2 4 8 16"),
#   PROMPT_LIST ("single ensemble learned").
# Outputs: $OUTPUT/studies/<study>/<setting>/base2new/..., one tree per setting, so that
# `python tools/report.py $OUTPUT/studies/<study>/<setting>` prints that setting's table.
# The class ratio r:1 gives base = N - floor(N / (r + 1)) classes for r > 1 (the reference's code, for
# both protocols); 1:1 keeps the config's own rounding (CoOp: ceil(N/2) base, the reference: floor).
# Text noise trains once on clean names ($OUTPUT/studies/text_noise/clean) and evaluates that model on
# the base and the new classes with typos in the class names.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 4 && $# -le 5 ]] || { echo "usage: bash $0 STUDY METHOD DATASET SEED [CFG]" >&2; exit 2; }
STUDY="$1" METHOD="$2" DATASET="$3" SEED="$4"
case "$METHOD" in
    attnmma | mmadapter | clip_adapter) ;;
    *) echo "error: METHOD must be attnmma, mmadapter or clip_adapter, got '$METHOD'" >&2; exit 2 ;;
esac
STUDY_ROOT="${OUTPUT:-output}"
STUDY_ROOT="${STUDY_ROOT%/}/studies/$STUDY"
source "$HERE/../$METHOD/settings.sh"
if [[ "$DATASET" == imagenet ]]; then DEFAULT_CFG="$IMAGENET_CFG"; fi
if [[ "$METHOD" == clip_adapter ]]; then DEFAULT_CFG=vit_b16_arxiv; fi
CFG="${5:-$DEFAULT_CFG}"
BASE_EXTRA_OPTS="$EXTRA_OPTS"  # with what the method's settings.sh added

attnmma_only() {
    [[ "$METHOD" == attnmma ]] || die "the $STUDY study varies a setting of the attention adapter; use METHOD attnmma"
}

run_setting() {  # run_setting NAME KEY VALUE...: train on base and test on new with those options
    local name="$1"
    shift
    OUTPUT="$STUDY_ROOT/$name"
    EXTRA_OPTS="$BASE_EXTRA_OPTS $*"
    echo "=== $STUDY: $name ($METHOD, $DATASET, seed $SEED)"
    base2new_train "$DATASET" "$SEED" "$CFG"
    base2new_test "$DATASET" "$SEED" "$CFG"
}

evaluate_with_typos() {  # evaluate_with_typos NAME RATE: the clean model, scored with noisy class names
    local name="$1" rate="$2" model_dir subsample phase outdir
    OUTPUT="$STUDY_ROOT/clean"
    EXTRA_OPTS="$BASE_EXTRA_OPTS"
    echo "=== $STUDY: clean training ($METHOD, $DATASET, seed $SEED)"
    base2new_train "$DATASET" "$SEED" "$CFG"
    model_dir="$(run_dir base2new train_base "$DATASET" "$TRAIN_SHOTS" "$CFG" "$SEED")"
    OUTPUT="$STUDY_ROOT/$name"
    EXTRA_OPTS="$BASE_EXTRA_OPTS DATASET.CLASSNAME_TYPO_RATE $rate DATASET.CLASSNAME_TYPO_KIND ${TYPO_KIND:-swap}"
    for subsample in base new; do
        phase=test_new
        if [[ "$subsample" == base ]]; then phase=train_base; fi  # the table's base column
        outdir="$(run_dir base2new "$phase" "$DATASET" "$TRAIN_SHOTS" "$CFG" "$SEED")"
        if finished "$outdir"; then continue; fi
        evaluation_flags "$model_dir" "" "bash $HERE/study.sh $STUDY $METHOD $DATASET $SEED $CFG"
        RUN_OPTS=(DATASET.NUM_SHOTS "$TRAIN_SHOTS" DATASET.SUBSAMPLE_CLASSES "$subsample")
        echo "=== $STUDY: $name, $subsample classes"
        launch "$outdir" "$DATASET" "$CFG" "$SEED"
    done
}

case "$STUDY" in
    image_noise)
        for std in ${IMAGE_NOISE_STDS:-0.0 0.3}; do
            run_setting "std_$std" INPUT.IMAGE_NOISE_STD "$std"
            if [[ "$std" != 0.0 ]]; then
                run_setting "std_${std}_test_leak" INPUT.IMAGE_NOISE_STD "$std" INPUT.IMAGE_NOISE_AT_TEST True
            fi
        done ;;
    label_noise)
        for rate in ${LABEL_NOISE_RATES:-0.0 0.1 0.2 0.3}; do
            run_setting "rate_$rate" DATASET.LABEL_NOISE_RATE "$rate"
        done ;;
    class_ratio)
        for ratio in ${CLASS_RATIOS:-1 3 4 5}; do
            require_int RATIO "$ratio"
            if [[ "$ratio" == 1 ]]; then
                run_setting "ratio_1to1" DATASET.BASE_NEW_RATIO 1
            else
                run_setting "ratio_${ratio}to1" DATASET.BASE_NEW_RATIO "$ratio" DATASET.BASE_ROUNDING ceil
            fi
        done ;;
    imbalance)
        for factor in ${IMBALANCE_FACTORS:-1.0 2.0 4.0 8.0 16.0}; do
            run_setting "factor_$factor" DATASET.IMBALANCE_FACTOR "$factor"
        done ;;
    text_noise)
        for rate in ${TYPO_RATES:-0.0 0.1 0.2 0.3}; do
            evaluate_with_typos "typo_${TYPO_KIND:-swap}_$rate" "$rate"
        done ;;
    heads)
        attnmma_only
        for heads in ${HEADS_LIST:-2 4 8 16}; do
            run_setting "heads_$heads" TRAINER.ATTNMMA.HEADS "$heads"
        done ;;
    prompts)
        attnmma_only
        for prompt in ${PROMPT_LIST:-single ensemble learned}; do
            run_setting "prompt_$prompt" TRAINER.ATTNMMA.PROMPT "$prompt"
        done ;;
    *)
        die "unknown STUDY '$STUDY'; choose image_noise, label_noise, class_ratio, imbalance, text_noise, heads or prompts" ;;
esac
