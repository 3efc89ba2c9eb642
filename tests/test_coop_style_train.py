"""A train.py written the CoOp way runs unchanged: it builds Dassl's defaults, attaches its methods'
nodes as plain ``yacs`` CfgNodes, merges a method yaml that sets those keys, freezes, dumps, trains."""
import json
import runpy
import sys
import textwrap
from pathlib import Path

import pytest
from yacs.config import CfgNode as YacsNode

from dassl.config import get_cfg_default

COOP_STYLE_TRAIN_PY = textwrap.dedent('''
    import argparse

    from yacs.config import CfgNode as CN

    from dassl.config import get_cfg_default
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed, setup_logger

    import datasets.eurosat  # noqa: F401  (registers the dataset)
    import trainers.coop  # noqa: F401  (registers the trainer)


    def extend_cfg(cfg):
        cfg.TRAINER.COOP = CN()
        cfg.TRAINER.COOP.N_CTX = 16
        cfg.TRAINER.COOP.CSC = False
        cfg.TRAINER.COOP.CTX_INIT = ""
        cfg.TRAINER.COOP.PREC = "fp16"
        cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"
        cfg.TRAINER.COCOOP = CN()
        cfg.TRAINER.COCOOP.N_CTX = 16
        cfg.TRAINER.COCOOP.CTX_INIT = ""
        cfg.TRAINER.COCOOP.PREC = "fp16"
        cfg.DATASET.SUBSAMPLE_CLASSES = "all"


    def setup_cfg(args):
        cfg = get_cfg_default()
        extend_cfg(cfg)
        cfg.merge_from_file(args.dataset_config_file)
        cfg.merge_from_file(args.config_file)
        cfg.DATASET.ROOT = args.root
        cfg.OUTPUT_DIR = args.output_dir
        cfg.SEED = args.seed
        cfg.TRAINER.NAME = args.trainer
        cfg.merge_from_list(args.opts)
        cfg.freeze()
        return cfg


    def main(args):
        cfg = setup_cfg(args)
        set_random_seed(cfg.SEED)
        setup_logger(cfg.OUTPUT_DIR)
        print(cfg)
        with open(args.output_dir + "/config.yaml", "w") as f:
            f.write(cfg.dump())
        trainer = build_trainer(cfg)
        trainer.train()


    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=str)
    parser.add_argument("--output-dir", type=str)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config-file", type=str)
    parser.add_argument("--dataset-config-file", type=str)
    parser.add_argument("--trainer", type=str)
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    main(parser.parse_args())
''')


def test_a_coop_style_train_py_trains_with_a_method_yaml(fake_data_root, tiny_clip_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    script = tmp_path / "train.py"
    script.write_text(COOP_STYLE_TRAIN_PY)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(sys, "argv", [
        str(script), "--root", str(fake_data_root), "--output-dir", str(out), "--trainer", "CoOp",
        "--dataset-config-file", "configs/datasets/eurosat.yaml",
        "--config-file", "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml",
        "MODEL.BACKBONE.NAME", str(tiny_clip_checkpoint), "INPUT.SIZE", "(32, 32)", "USE_CUDA", "False",
        "DATALOADER.NUM_WORKERS", "0", "DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "1",
        "TRAINER.COOP.PREC", "fp32", "TRAINER.COOP.N_CTX", "4",
    ])
    console = sys.stdout
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.stdout = console
    dumped = (out / "config.yaml").read_text()
    assert "CTX_INIT: a photo of a" in dumped and "N_CTX: 4" in dumped
    log = (out / "log.txt").read_text()
    assert "Initial context: \"a photo of a\"" in log and "Finish training" in log
    assert json.loads((out / "result.json").read_text())["trainer"] == "CoOp"


def test_plain_yacs_nodes_merge_freeze_and_keep_the_clear_errors(tmp_path):
    cfg = get_cfg_default()
    cfg.TRAINER.COCOOP = YacsNode()
    cfg.TRAINER.COCOOP.N_CTX = 16
    good = tmp_path / "good.yaml"
    good.write_text("TRAINER:\n  COCOOP:\n    N_CTX: 4\n")
    cfg.merge_from_file(str(good))
    cfg.merge_from_list(["TRAINER.COCOOP.N_CTX", "8"])
    assert cfg.TRAINER.COCOOP.N_CTX == 8 and type(cfg.TRAINER.COCOOP) is YacsNode
    bad = tmp_path / "bad.yaml"
    bad.write_text("TRAINER:\n  COCOOP:\n    N_CTXX: 4\n")
    with pytest.raises(KeyError, match=r"TRAINER\.COCOOP\.N_CTXX in .*bad\.yaml \(did you mean TRAINER\.COCOOP\.N_CTX\?"):
        cfg.merge_from_file(str(bad))
    mistyped = tmp_path / "mistyped.yaml"
    mistyped.write_text("TRAINER:\n  COCOOP:\n    N_CTX: four\n")
    with pytest.raises(ValueError, match=r"TRAINER\.COCOOP\.N_CTX in .*mistyped\.yaml"):
        cfg.merge_from_file(str(mistyped))
    cfg.freeze()
    with pytest.raises(AttributeError):
        cfg.TRAINER.COCOOP.N_CTX = 2
    assert "COCOOP:\n    N_CTX: 8" in cfg.dump()
