"""result.json: the finished evaluation of a run, with the settings that produced it."""
import os.path as osp
import time
from typing import Any, Mapping

from dassl.utils import write_json

RESULT_FILE = "result.json"


def write_result_file(cfg: Any, split: str, results: Mapping[str, float], num_images: int) -> str:
    """Atomically write ``OUTPUT_DIR/result.json`` with full-precision metrics; return its path.

    Its presence marks a finished evaluation, so tables can be built from files alone.
    """
    payload = {
        "metrics": {name: float(value) for name, value in results.items()},
        "split": split,
        "num_images": int(num_images),
        "trainer": cfg.TRAINER.NAME,
        "dataset": cfg.DATASET.NAME,
        "subsample": cfg.DATASET.SUBSAMPLE_CLASSES,
        "shots": cfg.DATASET.NUM_SHOTS,
        "seed": cfg.SEED,
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "config_files": {"dataset": cfg.DATASET_CONFIG_FILE, "method": cfg.CONFIG_FILE},
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    fpath = osp.join(cfg.OUTPUT_DIR, RESULT_FILE)
    write_json(payload, fpath)
    return fpath
