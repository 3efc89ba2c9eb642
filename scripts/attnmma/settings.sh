# The attention adapter's (arXiv 2409.02958) names for scripts/lib.sh; sourced by every script here.
# Default: CoOp's protocol (vit_b16_coop), the one every other method's table uses; pass CFG
# vit_b16_reference for the reference repository's protocol (or use run_examples_reference.sh).
# Image embeddings are stored once under $OUTPUT/embeddings and reused by every run and seed.
TRAINER=AttentionMultiModalAdapter
DEFAULT_CFG="${DEFAULT_CFG:-vit_b16_coop}"
EXTRA_OPTS="TRAINER.ATTNMMA.FEATURE_CACHE_DIR ${OUTPUT:-output}/embeddings ${EXTRA_OPTS:-}"
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
