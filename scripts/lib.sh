# Shared logic of every scripts/<method>/*.sh: output folders, the skip rule, launching train.py.
#
# A method's scripts are thin wrappers. Each sets the method's names and calls one entry point:
#
#     TRAINER=MultiModalAdapter            # trainer name = configs/trainers/<TRAINER>/
#     DEFAULT_CFG=vit_b16_ep5              # default config for base-to-novel
#     source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
#     base2new_train "$@"
#
# Optional wrapper settings: IMAGENET_CFG (base-to-novel config for ImageNet, default DEFAULT_CFG),
# XD_CFG (cross-dataset / DG config, default DEFAULT_CFG), FEWSHOT_CFG (few-shot config; "{shots}" is
# replaced by the shot count; default DEFAULT_CFG; a settings.sh whose choice depends on the dataset
# redefines fewshot_default_cfg after sourcing this file), NO_TRAINING=1 (a method without training,
# e.g. zero-shot CLIP: "train" runs only evaluate, test runs load no model).
#
# Environment (see docs/REPRODUCE.md): DATA (dataset root, default data/), OUTPUT (output root,
# default output), PYTHON (default python), EXTRA_OPTS (KEY VALUE config overrides appended to every
# run, e.g. "DATALOADER.NUM_WORKERS 0 USE_CUDA False"), DATASETS / XD_DATASETS / DG_DATASETS (the
# dataset lists of run_examples.sh and run_xd_dg.sh), QUIET=1 (a run's output goes only to its log.txt),
# BACKBONE (NAME or NAME:TAG, e.g. ViT-L-14:datacomp_xl_s13b_b90k: every run uses that CLIP instead of
# the config's, and <cfg> below becomes <cfg>@<NAME>.<TAG> so runs on different backbones stay apart),
# CONFIG_TAG (the name of the folder of runs whose EXTRA_OPTS can change the numbers, see below).
#
# Layout: $OUTPUT/<protocol>/<phase>/<dataset>/shots_<K>/<TRAINER>/<cfg>/seed<S>. A run is skipped
# only when its result.json exists; an unfinished run is started again with the same command and the
# engine resumes it from its last completed epoch. EXTRA_OPTS that can change a run's numbers (any key
# but the result-neutral ones: workers, print frequency, device, caches) make <cfg> <cfg>_<CONFIG_TAG>,
# or <cfg>_<hash of those options> without a tag (tools/config_tag.py), so an ablation never reuses or
# overwrites the default runs; with BACKBONE as well it is <cfg>_<tag>@<NAME>.<TAG>.

set -euo pipefail

: "${TRAINER:?the wrapper script must set TRAINER before sourcing lib.sh}"
: "${DEFAULT_CFG:?the wrapper script must set DEFAULT_CFG before sourcing lib.sh}"
IMAGENET_CFG="${IMAGENET_CFG:-$DEFAULT_CFG}"
XD_CFG="${XD_CFG:-$DEFAULT_CFG}"
FEWSHOT_CFG="${FEWSHOT_CFG:-$DEFAULT_CFG}"
NO_TRAINING="${NO_TRAINING:-0}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
METHOD_SCRIPTS="$(dirname "$0")"
DATA="${DATA:-data/}"
OUTPUT="${OUTPUT:-output}"
OUTPUT="${OUTPUT%/}"
PYTHON="${PYTHON:-python}"
EXTRA_OPTS="${EXTRA_OPTS:-}"
QUIET="${QUIET:-0}"
BACKBONE="${BACKBONE:-}"
CONFIG_TAG="${CONFIG_TAG:-}"
DATASETS="${DATASETS:-caltech101 oxford_pets stanford_cars oxford_flowers food101 fgvc_aircraft sun397 dtd eurosat ucf101 imagenet}"
XD_DATASETS="${XD_DATASETS:-caltech101 oxford_pets stanford_cars oxford_flowers food101 fgvc_aircraft sun397 dtd eurosat ucf101}"
DG_DATASETS="${DG_DATASETS:-imagenetv2 imagenet_sketch imagenet_a imagenet_r}"
DG_VARIANTS=" imagenetv2 imagenet_sketch imagenet_a imagenet_r "
TRAIN_SHOTS=16

die() {
    echo "error: $*" >&2
    exit 1
}

usage() {
    echo "usage: bash $0 $*" >&2
    exit 2
}

require_python() {
    command -v "$PYTHON" > /dev/null || die "no Python interpreter '$PYTHON': activate the project's environment or set PYTHON (e.g. PYTHON=python3)"
}

require_int() {  # require_int NAME VALUE
    [[ "$2" =~ ^-?[0-9]+$ ]] || die "$1 must be an integer, got '$2'"
}

options_hash() {  # options_hash: the hash of EXTRA_OPTS' result-changing options, "" when none
    if [[ -z "$EXTRA_OPTS" ]]; then return 0; fi
    require_python
    local words=()
    read -r -a words <<< "$EXTRA_OPTS"
    "$PYTHON" "$REPO_ROOT/tools/config_tag.py" "${words[@]}"
}

run_dir() {  # run_dir PROTOCOL PHASE DATASET SHOTS CFG SEED
    local cfg="$5$CONFIG_SUFFIX"
    if [[ -n "$BACKBONE" ]]; then cfg="$cfg@$(echo "$BACKBONE" | tr '/:' '-.')"; fi
    echo "$OUTPUT/$1/$2/$3/shots_$4/$TRAINER/$cfg/seed$6"
}

backbone_args() {  # backbone_args: sets BACKBONE_ARGS, the train.py arguments that BACKBONE asks for
    BACKBONE_ARGS=()
    if [[ -z "$BACKBONE" ]]; then return 0; fi
    BACKBONE_ARGS=(--backbone "${BACKBONE%%:*}")
    if [[ "$BACKBONE" == *:* ]]; then BACKBONE_ARGS+=(MODEL.BACKBONE.PRETRAINED "${BACKBONE#*:}"); fi
}

yaml_names() {  # yaml_names FOLDER: the yaml files' names without extension, on one line
    local file names=""
    for file in "$1"/*.yaml; do
        if [[ -f "$file" ]]; then names="$names $(basename "$file" .yaml)"; fi
    done
    echo "${names:- (none)}"
}

dataset_yaml() {  # dataset_yaml DATASET: its config file, or a clear error
    local folder="$REPO_ROOT/configs/datasets"
    [[ -f "$folder/$1.yaml" ]] || die "unknown dataset '$1': no $folder/$1.yaml. Available:$(yaml_names "$folder")"
    echo "$folder/$1.yaml"
}

method_yaml() {  # method_yaml CFG: the trainer's config file, or a clear error
    local folder="$REPO_ROOT/configs/trainers/$TRAINER"
    [[ -f "$folder/$1.yaml" ]] || die "unknown config '$1' for $TRAINER: no $folder/$1.yaml. Available:$(yaml_names "$folder")"
    echo "$folder/$1.yaml"
}

check_run_args() {  # check_run_args DATASET SEED CFG: fail early on a typo
    require_int SEED "$2"
    dataset_yaml "$1" > /dev/null
    method_yaml "$3" > /dev/null
}

finished() {  # finished OUTDIR: true (and says so) when the run already wrote its result.json
    [[ -f "$1/result.json" ]] || return 1
    local recorded
    if [[ -n "$CONFIG_TAG" && -f "$1/$TAG_RECORD" ]]; then
        recorded="$(sed -n 's/^options_hash //p' "$1/$TAG_RECORD")"
        [[ "$recorded" == "$OPTIONS_HASH" ]] || die "$1 is a run of CONFIG_TAG=$CONFIG_TAG with other options:
  recorded: $(sed -n 's/^options //p' "$1/$TAG_RECORD")
  now:      $TAGGED_OPTS
Give these options another tag (or none: their hash then names the folder), or move that folder away to run it again."
    fi
    echo "skip: $1 is finished (result.json exists)"
}

write_tag_record() {  # write_tag_record OUTDIR: which options CONFIG_TAG stands for (tools/config_tag.py reads it)
    if [[ -z "$CONFIG_TAG" ]]; then return 0; fi
    mkdir -p "$1"
    printf 'tag %s\noptions_hash %s\noptions %s\n' "$CONFIG_TAG" "$OPTIONS_HASH" "$TAGGED_OPTS" > "$1/$TAG_RECORD.tmp"
    mv "$1/$TAG_RECORD.tmp" "$1/$TAG_RECORD"
}

last_saved_epoch() {  # last_saved_epoch MODEL_DIR: the largest E of MODEL_DIR/<model>/model.pth.tar-E
    local best="" file epoch
    for file in "$1"/*/model.pth.tar-*; do
        epoch="${file##*-}"
        if [[ -f "$file" && "$epoch" =~ ^[0-9]+$ ]] && [[ -z "$best" || "$epoch" -gt "$best" ]]; then
            best="$epoch"
        fi
    done
    echo "$best"
}

evaluation_flags() {  # evaluation_flags MODEL_DIR LOADEP TRAIN_COMMAND: sets RUN_FLAGS for an eval-only run
    if [[ "$NO_TRAINING" == 1 ]]; then
        RUN_FLAGS=(--eval-only)
        return 0
    fi
    [[ -f "$1/result.json" ]] || die "no finished training run in $1. Train it first: $3"
    local epoch="${2:-$(last_saved_epoch "$1")}"
    [[ -n "$epoch" ]] || die "no checkpoint <model>/model.pth.tar-<epoch> in $1"
    require_int LOADEP "$epoch"
    RUN_FLAGS=(--eval-only --model-dir "$1" --load-epoch "$epoch")
}

launch() {  # launch OUTDIR DATASET CFG SEED, with the arrays RUN_FLAGS and RUN_OPTS set
    local outdir="$1" dataset_file method_file extra=()
    require_python
    dataset_file="$(dataset_yaml "$2")"
    method_file="$(method_yaml "$3")"
    read -r -a extra <<< "$EXTRA_OPTS"
    echo ">>> $TRAINER $3 | $2 | seed $4 -> $outdir"
    write_tag_record "$outdir"
    backbone_args
    local command=("$PYTHON" "$REPO_ROOT/train.py" --root "$DATA" --seed "$4" --trainer "$TRAINER"
        --dataset-config-file "$dataset_file" --config-file "$method_file" --output-dir "$outdir"
        ${RUN_FLAGS[@]+"${RUN_FLAGS[@]}"} ${BACKBONE_ARGS[@]+"${BACKBONE_ARGS[@]}"}
        ${RUN_OPTS[@]+"${RUN_OPTS[@]}"} ${extra[@]+"${extra[@]}"})
    if [[ "$QUIET" == 1 ]]; then
        "${command[@]}" > /dev/null || die "$outdir: the run failed (its output is in $outdir/log.txt)"
    else
        "${command[@]}"
    fi
    [[ -f "$outdir/result.json" ]] || die "$outdir: the run ended without writing result.json (see its log.txt)"
    printf '<<< accuracy %.2f%%\n' "$(sed -n 's/^ *"accuracy": \([^,]*\),*$/\1/p' "$outdir/result.json")"
}

select_device() {  # select_device GPU: a GPU index for CUDA_VISIBLE_DEVICES, or "cpu"
    if [[ "$1" == cpu ]]; then
        export CUDA_VISIBLE_DEVICES=""
        EXTRA_OPTS="$EXTRA_OPTS USE_CUDA False"
    else
        export CUDA_VISIBLE_DEVICES="$1"
    fi
}

# Fixed once, from EXTRA_OPTS as the method's settings.sh and the caller left it: options a script adds
# later (a study's setting, the device) do not change the folder of the plain runs.
OPTIONS_HASH="$(options_hash)" || exit 1
TAGGED_OPTS="$EXTRA_OPTS"
TAG_RECORD=config_tag.txt
CONFIG_SUFFIX=""
if [[ -n "$CONFIG_TAG" ]]; then
    [[ "$CONFIG_TAG" =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || die "CONFIG_TAG '$CONFIG_TAG' cannot name a folder: use letters, digits and . _ + - (starting with a letter or digit), e.g. CONFIG_TAG=no_shared"
    CONFIG_SUFFIX="_$CONFIG_TAG"
elif [[ -n "$OPTIONS_HASH" ]]; then
    CONFIG_SUFFIX="_$OPTIONS_HASH"
fi

print_tables() {
    require_python
    "$PYTHON" "$REPO_ROOT/tools/report.py" "$OUTPUT"
}

base2new_train() {  # DATASET SEED [CFG]: 16 shots of the base classes; the final test is on base
    [[ $# -ge 2 && $# -le 3 ]] || usage "DATASET SEED [CFG]"
    local dataset="$1" seed="$2" cfg="${3:-$DEFAULT_CFG}" outdir
    check_run_args "$dataset" "$seed" "$cfg"
    outdir="$(run_dir base2new train_base "$dataset" "$TRAIN_SHOTS" "$cfg" "$seed")"
    if finished "$outdir"; then return 0; fi
    RUN_FLAGS=()
    if [[ "$NO_TRAINING" == 1 ]]; then RUN_FLAGS=(--eval-only); fi
    RUN_OPTS=(DATASET.NUM_SHOTS "$TRAIN_SHOTS" DATASET.SUBSAMPLE_CLASSES base)
    launch "$outdir" "$dataset" "$cfg" "$seed"
}

base2new_test() {  # DATASET SEED [CFG] [LOADEP]: evaluate the base-trained model on the new classes
    [[ $# -ge 2 && $# -le 4 ]] || usage "DATASET SEED [CFG] [LOADEP]"
    local dataset="$1" seed="$2" cfg="${3:-$DEFAULT_CFG}" outdir model_dir
    check_run_args "$dataset" "$seed" "$cfg"
    outdir="$(run_dir base2new test_new "$dataset" "$TRAIN_SHOTS" "$cfg" "$seed")"
    if finished "$outdir"; then return 0; fi
    model_dir="$(run_dir base2new train_base "$dataset" "$TRAIN_SHOTS" "$cfg" "$seed")"
    evaluation_flags "$model_dir" "${4:-}" "bash $METHOD_SCRIPTS/base2new_train.sh $dataset $seed $cfg"
    RUN_OPTS=(DATASET.NUM_SHOTS "$TRAIN_SHOTS" DATASET.SUBSAMPLE_CLASSES new)
    launch "$outdir" "$dataset" "$cfg" "$seed"
}

xd_train() {  # SEED [CFG]: 16 shots of all 1000 ImageNet classes; the final test is the source accuracy
    [[ $# -ge 1 && $# -le 2 ]] || usage "SEED [CFG]"
    local seed="$1" cfg="${2:-$XD_CFG}" outdir
    check_run_args imagenet "$seed" "$cfg"
    outdir="$(run_dir xd train imagenet "$TRAIN_SHOTS" "$cfg" "$seed")"
    if finished "$outdir"; then return 0; fi
    RUN_FLAGS=()
    if [[ "$NO_TRAINING" == 1 ]]; then RUN_FLAGS=(--eval-only); fi
    RUN_OPTS=(DATASET.NUM_SHOTS "$TRAIN_SHOTS")
    launch "$outdir" imagenet "$cfg" "$seed"
}

xd_test() {  # DATASET SEED [CFG] [LOADEP]: evaluate the ImageNet model on a target (all its classes)
    [[ $# -ge 2 && $# -le 4 ]] || usage "DATASET SEED [CFG] [LOADEP]"
    local dataset="$1" seed="$2" cfg="${3:-$XD_CFG}" protocol=xd outdir model_dir
    check_run_args "$dataset" "$seed" "$cfg"
    if [[ "$DG_VARIANTS" == *" $dataset "* ]]; then protocol=dg; fi
    outdir="$(run_dir "$protocol" test "$dataset" "$TRAIN_SHOTS" "$cfg" "$seed")"
    if finished "$outdir"; then return 0; fi
    model_dir="$(run_dir xd train imagenet "$TRAIN_SHOTS" "$cfg" "$seed")"
    evaluation_flags "$model_dir" "${4:-}" "bash $METHOD_SCRIPTS/xd_train.sh $seed $cfg"
    RUN_OPTS=()
    launch "$outdir" "$dataset" "$cfg" "$seed"
}

fewshot_default_cfg() {  # fewshot_default_cfg DATASET SHOTS: the config of a few-shot run given no CFG.
    # A method's settings.sh redefines it after sourcing this file where the choice depends on the
    # dataset or the shots (CoOp's schedule, PromptSRC's GPA setting); tools/sweep.py asks it too.
    echo "${FEWSHOT_CFG//\{shots\}/$2}"
}

fewshot() {  # DATASET SEED SHOTS [CFG]: train on SHOTS images of every class, test on all classes
    [[ $# -ge 3 && $# -le 4 ]] || usage "DATASET SEED SHOTS [CFG]"
    local dataset="$1" seed="$2" shots="$3" cfg outdir
    require_int SHOTS "$shots"
    cfg="${4:-$(fewshot_default_cfg "$dataset" "$shots")}"
    check_run_args "$dataset" "$seed" "$cfg"
    outdir="$(run_dir fewshot train_all "$dataset" "$shots" "$cfg" "$seed")"
    if finished "$outdir"; then return 0; fi
    RUN_FLAGS=()
    if [[ "$NO_TRAINING" == 1 ]]; then RUN_FLAGS=(--eval-only); fi
    RUN_OPTS=(DATASET.NUM_SHOTS "$shots")
    launch "$outdir" "$dataset" "$cfg" "$seed"
}

run_examples() {  # GPU SEED: the whole base-to-novel table for one seed ($DATASETS), then the tables
    [[ $# -eq 2 ]] || usage "GPU|cpu SEED"
    select_device "$1"
    local seed="$2" dataset cfg
    for dataset in $DATASETS; do
        cfg="$DEFAULT_CFG"
        if [[ "$dataset" == imagenet ]]; then cfg="$IMAGENET_CFG"; fi
        base2new_train "$dataset" "$seed" "$cfg"
        base2new_test "$dataset" "$seed" "$cfg"
    done
    print_tables
}

run_xd_dg() {  # GPU SEED [CFG]: train on ImageNet once, test $XD_DATASETS and $DG_DATASETS, then the tables
    [[ $# -ge 2 && $# -le 3 ]] || usage "GPU|cpu SEED [CFG]"
    select_device "$1"
    local seed="$2" cfg="${3:-$XD_CFG}" dataset
    xd_train "$seed" "$cfg"
    for dataset in $XD_DATASETS $DG_DATASETS; do
        xd_test "$dataset" "$seed" "$cfg"
    done
    print_tables
}
