"""The config keys that cannot change a run's numbers, and the tag of the ones that can.

This module imports nothing from the project (nor torch), so the scripts' tag helper
(``tools/config_tag.py``) reads it quickly.
"""
import hashlib
from typing import Sequence

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
TAG_LENGTH = 8


def overrides_tag(opts: Sequence[str]) -> str:
    """A short hash of the ``KEY VALUE`` overrides that can change results ("" when there are none)."""
    if len(opts) % 2:
        raise ValueError(f"overrides must be KEY VALUE pairs, got an odd number ({len(opts)}): {list(opts)}")
    changing = [f"{key} {value}" for key, value in zip(opts[::2], opts[1::2]) if key not in RESULT_NEUTRAL_KEYS]
    if not changing:
        return ""
    return hashlib.sha256("\n".join(changing).encode()).hexdigest()[:TAG_LENGTH]
