"""Config decoding and error messages (yacs semantics plus clearer messages)."""
import pytest

from dassl.config import get_cfg_default


def write_yaml(tmp_path, text: str) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return str(path)


def test_yaml_strings_decode_like_dassl(tmp_path):
    cfg = get_cfg_default()
    cfg.merge_from_file(
        write_yaml(
            tmp_path,
            "INPUT:\n  SIZE: (224, 224)\n  TRANSFORMS: [random_resized_crop, random_flip, normalize]\n"
            "OPTIM:\n  WARMUP_CONS_LR: 1e-5\n  LR: 0.0015\n",
        )
    )
    assert cfg.INPUT.SIZE == (224, 224) and isinstance(cfg.INPUT.SIZE, tuple)
    assert cfg.INPUT.TRANSFORMS == ("random_resized_crop", "random_flip", "normalize")
    assert isinstance(cfg.OPTIM.WARMUP_CONS_LR, float) and cfg.OPTIM.WARMUP_CONS_LR == 1e-5
    cfg.merge_from_list(["DATASET.NUM_SHOTS", "16", "USE_CUDA", "False", "DATASET.SUBSAMPLE_CLASSES", "base"])
    assert (cfg.DATASET.NUM_SHOTS, cfg.USE_CUDA, cfg.DATASET.SUBSAMPLE_CLASSES) == (16, False, "base")
    assert "  SIZE: (224, 224)" in str(cfg)


def test_defaults_include_subsample_and_config_file_keys():
    cfg = get_cfg_default()
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "all"
    assert (cfg.DATASET_CONFIG_FILE, cfg.CONFIG_FILE) == ("", "")
    assert cfg.OPTIM.SGD_DAMPNING == 0 and cfg.OPTIM.STEPSIZE == (-1,)
    assert get_cfg_default() is not get_cfg_default()


def test_unknown_key_names_the_key_and_the_closest(tmp_path):
    cfg = get_cfg_default()
    with pytest.raises(KeyError, match=r"Non-existent config key: OPTIM\.LRR in .*cfg\.yaml \(did you mean OPTIM\.LR\?"):
        cfg.merge_from_file(write_yaml(tmp_path, "OPTIM:\n  LRR: 0.1\n"))
    with pytest.raises(AssertionError, match=r"Non-existent key: TRAINER\.NAM in the command-line opts \(did you mean TRAINER\.NAME\?"):
        cfg.merge_from_list(["TRAINER.NAM", "MMA"])


def test_type_mismatch_names_the_key(tmp_path):
    cfg = get_cfg_default()
    with pytest.raises(ValueError, match=r"Type mismatch .* for config key: OPTIM\.LR in .*cfg\.yaml"):
        cfg.merge_from_file(write_yaml(tmp_path, "OPTIM:\n  LR: 1\n"))
    with pytest.raises(ValueError, match=r"for config key: DATASET\.SUBSAMPLE_CLASSES in the command-line opts"):
        cfg.merge_from_list(["DATASET.SUBSAMPLE_CLASSES", "1"])


def test_frozen_config_rejects_assignment():
    cfg = get_cfg_default()
    cfg.freeze()
    with pytest.raises(AttributeError):
        cfg.SEED = 3
