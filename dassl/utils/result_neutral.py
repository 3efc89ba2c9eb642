"""The config keys that cannot change a run's numbers, left out of the run's identity."""

# Where files go, how fast the run goes, how much it prints, and the device: the speed options
# listed here keep results bitwise (docs/SPEED.md); CPU and CUDA runs of one setting are one experiment.
RESULT_NEUTRAL_KEYS = frozenset(
    {
        "OUTPUT_DIR",
        "RESUME",
        "VERBOSE",
        "USE_CUDA",
        "CONFIG_FILE",
        "DATASET_CONFIG_FILE",
        "DATASET.ROOT",
        "DATALOADER.NUM_WORKERS",
        "DATALOADER.PERSISTENT_WORKERS",
        "DATALOADER.CACHE_DECODED",
        "DATALOADER.TEST.CACHE_DECODED",
        "TRAIN.PRINT_FREQ",
        "MODEL.BACKBONE.REPLAY_INIT",
        "TRAINER.MMADAPTER.TEXT_PREFIX_CACHE",
        "TRAINER.ATTNMMA.FEATURE_CACHE_DIR",
    }
)
