"""train.py: the CoOp command line and Dassl's config merge order (defaults, dataset yaml, method yaml,
flags, trailing options), and the errors for bad input."""
from pathlib import Path

import pytest

import train


def parse(*argv: str):
    return train.build_parser().parse_args(list(argv))


@pytest.fixture
def yamls(tmp_path: Path):
    dataset = tmp_path / "dataset.yaml"
    dataset.write_text("DATASET:\n  NAME: EuroSAT\nOPTIM:\n  LR: 0.1\n  MAX_EPOCH: 9\nSEED: 7\n")
    method = tmp_path / "method.yaml"
    method.write_text(
        "OPTIM:\n  LR: 0.2\n  MAX_EPOCH: 5\n  WARMUP_CONS_LR: 1e-5\nINPUT:\n  SIZE: (32, 32)\n"
        "DATALOADER:\n  TRAIN_X:\n    BATCH_SIZE: 16\n"
    )
    return dataset, method


def test_merge_order_dataset_then_method_then_flags_then_options(yamls):
    dataset, method = yamls
    args = parse(
        "--root", "data", "--trainer", "MultiModalAdapter", "--dataset-config-file", str(dataset),
        "--config-file", str(method), "--output-dir", "out/run", "--backbone", "tiny.pt",
        "OPTIM.MAX_EPOCH", "3", "DATASET.SUBSAMPLE_CLASSES", "base", "MODEL.BACKBONE.NAME", "other.pt",
    )
    cfg = train.setup_cfg(args)
    assert cfg.DATASET.NAME == "EuroSAT"
    assert cfg.OPTIM.LR == 0.2
    assert cfg.OPTIM.MAX_EPOCH == 3
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-5 and cfg.INPUT.SIZE == (32, 32)
    assert cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 16
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "base"
    assert cfg.MODEL.BACKBONE.NAME == "other.pt"
    assert (cfg.DATASET.ROOT, cfg.OUTPUT_DIR, cfg.TRAINER.NAME) == ("data", "out/run", "MultiModalAdapter")
    assert (cfg.DATASET_CONFIG_FILE, cfg.CONFIG_FILE) == (str(dataset), str(method))
    assert cfg.SEED == 7
    assert cfg.is_frozen()


def test_defaults_and_every_trainer_node():
    cfg = train.setup_cfg(parse())
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "all"
    assert cfg.SEED == -1 and cfg.OUTPUT_DIR == "./output"
    import trainers

    for module in trainers._MODULES:
        if hasattr(module, "extend_cfg"):
            fresh = train.get_cfg_default()
            module.extend_cfg(fresh)
            added = set(fresh.TRAINER) - set(train.get_cfg_default().TRAINER)
            assert added and added <= set(cfg.TRAINER), module.__name__


def test_seed_zero_is_a_seed_and_flags_beat_the_yaml(yamls):
    dataset, _ = yamls
    assert train.setup_cfg(parse("--dataset-config-file", str(dataset), "--seed", "0")).SEED == 0
    assert train.setup_cfg(parse("--dataset-config-file", str(dataset), "--seed", "3")).SEED == 3
    assert train.setup_cfg(parse("--seed", "1", "SEED", "5")).SEED == 5
    cfg = train.setup_cfg(parse("--transforms", "random_flip", "normalize", "--source-domains", "a", "--head", "mlp"))
    assert cfg.INPUT.TRANSFORMS == ["random_flip", "normalize"]
    assert cfg.DATASET.SOURCE_DOMAINS == ["a"] and cfg.MODEL.HEAD.NAME == "mlp"


def test_eval_flags_parse_like_the_reference():
    args = parse("--eval-only", "--model-dir", "out/train", "--load-epoch", "5", "DATASET.NUM_SHOTS", "16")
    assert (args.eval_only, args.model_dir, args.load_epoch, args.no_train) == (True, "out/train", 5, False)
    assert args.opts == ["DATASET.NUM_SHOTS", "16"]


def test_errors_name_the_file_or_the_key(yamls, tmp_path):
    dataset, _ = yamls
    with pytest.raises(FileNotFoundError, match="method config file not found: .*nope.yaml"):
        train.setup_cfg(parse("--config-file", str(tmp_path / "nope.yaml")))
    bad = tmp_path / "bad.yaml"
    bad.write_text("OPTIM:\n  LEARNING_RATE: 0.1\n")
    with pytest.raises(KeyError, match=r"OPTIM.LEARNING_RATE in .*bad.yaml"):
        train.setup_cfg(parse("--dataset-config-file", str(bad)))
    with pytest.raises(ValueError, match="KEY VALUE pairs, got an odd number"):
        train.setup_cfg(parse("OPTIM.LR"))
    with pytest.raises(AssertionError, match="OPTIM.NOPE in the command-line opts"):
        train.setup_cfg(parse("OPTIM.NOPE", "1"))
    with pytest.raises(ValueError, match="Type mismatch .* OPTIM.LR in the command-line opts"):
        train.setup_cfg(parse("--dataset-config-file", str(dataset), "OPTIM.LR", "1"))


def test_eval_only_without_a_config_file_starts_from_the_runs_config_yaml(yamls, tmp_path):
    dataset, method = yamls
    trained = train.setup_cfg(parse("--dataset-config-file", str(dataset), "--config-file", str(method),
                                    "--trainer", "MultiModalAdapter", "--output-dir", str(tmp_path / "run"),
                                    "TRAINER.MMADAPTER.ADAPTER_START", "2"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(trained.dump())
    evaluated = train.setup_cfg(parse("--eval-only", "--model-dir", str(tmp_path / "run"), "--output-dir",
                                      str(tmp_path / "eval"), "DATASET.SUBSAMPLE_CLASSES", "new"))
    assert (evaluated.INPUT.SIZE, evaluated.TRAINER.MMADAPTER.ADAPTER_START, evaluated.OPTIM.LR) == ((32, 32), 2, 0.2)
    assert evaluated.TRAINER.NAME == "MultiModalAdapter" and evaluated.DATASET.NAME == "EuroSAT"
    assert (evaluated.OUTPUT_DIR, evaluated.DATASET.SUBSAMPLE_CLASSES) == (str(tmp_path / "eval"), "new")
    given = train.setup_cfg(parse("--eval-only", "--model-dir", str(tmp_path / "run"), "--config-file", str(method)))
    assert given.TRAINER.MMADAPTER.ADAPTER_START != 2  # an explicit --config-file replaces the saved config
