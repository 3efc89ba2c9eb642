"""A tiny sweep for the back-end tests: MMA few-shot on fake data with the tiny CLIP, 1 epoch."""
from pathlib import Path


def tiny_sweep_file(tmp_path: Path, data_root: Path, clip_checkpoint: Path, datasets=("eurosat", "dtd"),
                    seeds=(1, 2), shots=(1, 2), extra: str = "") -> Path:
    """A 2 x 2 x 2 grid (datasets x seeds x shots) of few-shot runs, each a few seconds on a CPU; the
    tiny-CLIP options change the numbers, so the runs are in the config folders <cfg>_tiny."""
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(
        "name: tiny\nprotocol: fewshot\nmethods: [mmadapter]\n"
        f"datasets: [{', '.join(datasets)}]\nseeds: [{', '.join(map(str, seeds))}]\nshots: [{', '.join(map(str, shots))}]\n"
        f"data: {data_root}\noutput: {tmp_path / 'output'}\nconfig_tag: tiny\n"
        f"extra_opts: DATALOADER.NUM_WORKERS 0 MODEL.BACKBONE.NAME {clip_checkpoint} INPUT.SIZE (32,32) "
        "TRAINER.MMADAPTER.ADAPTER_START 3 TRAINER.MMADAPTER.ADAPTER_END 4 OPTIM.MAX_EPOCH 1 "
        f"DATALOADER.TRAIN_X.BATCH_SIZE 2 DATALOADER.TEST.BATCH_SIZE 8 {extra}\n"
    )
    return sweep


def run_folders(tmp_path: Path, datasets=("eurosat", "dtd"), seeds=(1, 2), shots=(1, 2)):
    output = tmp_path / "output" / "fewshot" / "train_all"
    return [output / d / f"shots_{k}" / "MultiModalAdapter" / f"vit_b16_fewshot_{k}shot_tiny" / f"seed{s}"
            for d in datasets for s in seeds for k in shots]
