"""One switch for every cache the framework writes to disk: MMA_NO_CACHE=1 turns them all off.

The caches only save time (CLIP's recorded initialisation under ``<CLIP cache>/init_rng``, the split,
few-shot and preprocessed files a dataset reader derives); with the switch on, a run writes nothing
outside its output folder but downloads, and recomputes what it would have cached (docs/CACHES.md).
"""
import os

NO_CACHE_ENV = "MMA_NO_CACHE"


def disk_caches_enabled() -> bool:
    """False when the user set MMA_NO_CACHE to anything but "" or "0"."""
    return os.environ.get(NO_CACHE_ENV, "").strip() in ("", "0")
