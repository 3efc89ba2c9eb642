"""The attention adapter's trainer on fake data with the tiny CLIP: stored embeddings, the two
protocols, early stopping, checkpoints and every switch."""
import json
from pathlib import Path

import pytest
import torch

from dassl.data import DatasetWrapper
from tests.attnmma_helpers import attnmma_cfg, build_quietly, run_quietly
from tests.datasets_helpers import linked_copy
from trainers.kit.feature_cache import EmbeddingBatches


@pytest.fixture
def data_root(fake_data_root, tmp_path):
    for name in ("EuroSAT", "DescribableTextures"):
        linked_copy(fake_data_root, tmp_path / "data", name)
    return tmp_path / "data"


@pytest.fixture
def make(data_root, tmp_path, tiny_clip_checkpoint):
    def _make(config="vit_b16_reference", dataset="eurosat", out="out", opts=()):
        return attnmma_cfg(data_root, tmp_path / out, tiny_clip_checkpoint, config, dataset, opts)

    return _make


def count_encoder_calls(trainer):
    calls = []
    original = trainer.clip_model.encode_image

    def counted(images):
        calls.append(images.shape[0])
        return original(images)

    trainer.clip_model.encode_image = counted
    return calls


def test_stored_embeddings_train_like_the_frozen_encoder(make):
    opts = ["TRAINER.ATTNMMA.PREC", "fp32", "OPTIM.NAME", "sgd", "OPTIM.LR", "0.5", "TRAINER.ATTNMMA.PATIENCE", "0", "TEST.FINAL_MODEL", "last_step",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "4"]
    stored, _ = build_quietly(make(out="stored", opts=opts + ["TRAINER.ATTNMMA.FEATURE_CACHE", "auto"]))
    live, _ = build_quietly(make(out="live", opts=opts + ["TRAINER.ATTNMMA.FEATURE_CACHE", "off"]))
    assert isinstance(stored.train_loader_x.dataset, EmbeddingBatches)
    assert isinstance(live.train_loader_x.dataset, DatasetWrapper)
    stored_calls, live_calls = count_encoder_calls(stored), count_encoder_calls(live)
    results = []
    for trainer in (stored, live):
        torch.manual_seed(0)
        run_quietly(trainer.train)
        results.append(json.loads((Path(trainer.output_dir) / "result.json").read_text()))
    assert stored_calls == []  # no image passes through the encoder after the one-time encoding
    assert sum(live_calls) == 3 * 8 + 10  # 2 full batches of 4 per epoch (drop_last), then the test
    for key, value in stored.adapter.state_dict().items():
        torch.testing.assert_close(value, live.adapter.state_dict()[key], rtol=1e-4, atol=1e-5)
    assert results[0]["metrics"]["accuracy"] == results[1]["metrics"]["accuracy"]


FP32 = ["TRAINER.ATTNMMA.PREC", "fp32"]


def test_early_stopping_reloads_the_best_checkpoint(make, attnmma_golden):
    trainer, _ = build_quietly(make(opts=FP32 + ["OPTIM.LR", "0.0", "OPTIM.MAX_EPOCH", "20", "TRAINER.ATTNMMA.PATIENCE", "2"]))
    _, printed = run_quietly(trainer.train)
    out = Path(trainer.output_dir)
    # LR 0: epoch 1 sets the best val accuracy, epochs 2 and 3 bring no gain.
    assert "Early stopping after epoch 3: the val accuracy has not improved for 2 epochs" in printed
    assert "epoch [4/20]" not in printed
    best = torch.load(out / "adapter" / "model-best.pth.tar", weights_only=False)
    last = torch.load(out / "adapter" / "model.pth.tar-3", weights_only=False)
    assert best["epoch"] == 1 and last["epoch"] == 3
    assert list(best["state_dict"]) == list(attnmma_golden["cases"]["cross_only_mask_text_and_image"]["adapter_state_dict"])
    assert not (out / "resume.pth").exists()
    assert printed.index("Finish training") < printed.index('Loading weights to adapter from') < printed.rindex("* accuracy")
    assert (out / "result.json").is_file()


@pytest.mark.parametrize("config, base_classes, val_per_class, cache_file", [
    ("vit_b16_reference", 23, 1, "shot_2-seed_1-stratified.pkl"),  # floor(47/2); 2+2 from 3 train images
    ("vit_b16_coop", 24, 1, "shot_2-seed_1.pkl"),  # ceil(47/2); min(2, 4) val shots from val
])
def test_the_two_protocols(make, data_root, config, base_classes, val_per_class, cache_file):
    trainer, printed = build_quietly(make(config, dataset="dtd", opts=FP32))
    dataset = trainer.dm.dataset
    assert dataset.num_classes == base_classes
    assert len(dataset.train_x) == 2 * base_classes and len(dataset.val) == val_per_class * base_classes
    assert (data_root / "dtd" / "split_fewshot" / cache_file).is_file()
    assert "Training on stored embeddings: train_x" in printed
    assert trainer.cfg.TEST.FINAL_MODEL == ("best_val" if config == "vit_b16_reference" else "last_step")


def test_new_classes_are_scored_with_the_base_trained_adapter(make):
    trainer, _ = build_quietly(make(opts=FP32))
    run_quietly(trainer.train)
    evaluator, _ = build_quietly(make(out="new", opts=FP32 + ["DATASET.SUBSAMPLE_CLASSES", "new"]))
    _, printed = run_quietly(evaluator.load_model, trainer.output_dir, epoch=3)
    assert "TEST.FINAL_MODEL is best_val: loading model-best.pth.tar instead of epoch 3" in printed
    for key, value in trainer.adapter.state_dict().items():
        torch.testing.assert_close(evaluator.adapter.state_dict()[key], value)
    assert evaluator.fixed_text.shape[0] == 5  # the new classes' prompts are the candidates
    accuracy, _ = run_quietly(evaluator.test)
    assert 0.0 <= accuracy <= 100.0


def test_embeddings_are_kept_on_disk_and_reused(make, tmp_path):
    opts = FP32 + ["TRAINER.ATTNMMA.FEATURE_CACHE_DIR", str(tmp_path / "embeddings")]
    _, first = build_quietly(make(opts=opts))
    assert first.count("Stored embeddings in") == 3 and len(list((tmp_path / "embeddings").glob("*.pt"))) == 3
    trainer, second = build_quietly(make(out="again", opts=opts))
    calls = count_encoder_calls(trainer)
    assert second.count("Loaded stored embeddings from") == 3 and "Stored embeddings in" not in second
    run_quietly(trainer.test)
    assert calls == []


SWITCHES = {
    "float_mask": ["TRAINER.ATTNMMA.MASK", "additive_float_reference"],
    "no_mask": ["TRAINER.ATTNMMA.MASK", "none"],
    "image_only": ["TRAINER.ATTNMMA.ADAPT_TEXT", "False"],
    "linear": ["TRAINER.ATTNMMA.DOWN", "linear", "TRAINER.ATTNMMA.UP", "linear"],
    "mlp_transformer": ["TRAINER.ATTNMMA.DOWN", "mlp", "TRAINER.ATTNMMA.UP", "mlp", "TRAINER.ATTNMMA.BLOCK", "transformer"],
    "heads_8": ["TRAINER.ATTNMMA.HEADS", "8"],
    "ensemble": ["TRAINER.ATTNMMA.PROMPT", "ensemble"],
    "learned": ["TRAINER.ATTNMMA.PROMPT", "learned"],
    "image_noise": ["INPUT.IMAGE_NOISE_STD", "0.3"],
    "noise_leak": ["INPUT.IMAGE_NOISE_STD", "0.3", "INPUT.IMAGE_NOISE_AT_TEST", "True"],
    "augment": ["INPUT.TRAIN_USE_TEST_TRANSFORM", "False", "INPUT.TRANSFORMS", "['random_flip', 'normalize']"],
}


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_every_switch_trains_and_tests(make, switch):
    trainer, printed = build_quietly(make(opts=FP32 + ["OPTIM.MAX_EPOCH", "2", "TRAINER.ATTNMMA.PATIENCE", "0"]
                                          + SWITCHES[switch]))
    on_the_fly_train = switch in ("image_noise", "noise_leak", "augment")
    assert isinstance(trainer.train_loader_x.dataset, DatasetWrapper) == on_the_fly_train
    assert isinstance(trainer.test_loader.dataset, DatasetWrapper) == (switch == "noise_leak")
    context_before = trainer.context.ctx.detach().clone() if switch == "learned" else None
    _, log = run_quietly(trainer.train)
    result = json.loads((Path(trainer.output_dir) / "result.json").read_text())
    assert 0.0 <= result["metrics"]["accuracy"] <= 100.0
    if switch == "learned":
        assert sorted(trainer.get_model_names()) == ["adapter", "prompt_learner"]
        assert not torch.equal(trainer.context.ctx, context_before)
        saved = torch.load(Path(trainer.output_dir) / "prompt_learner" / "model-best.pth.tar", weights_only=False)
        assert sorted(saved["state_dict"]) == ["ctx", "token_prefix", "token_suffix"]
    if switch == "ensemble":
        assert "a photo of the small {}." in printed


@pytest.mark.parametrize("opts, message", [
    (["TRAINER.ATTNMMA.MASK", "bool"], "TRAINER.ATTNMMA.MASK is 'bool'; use one of cross_only"),
    (["TRAINER.ATTNMMA.PREC", "amp"], "TRAINER.ATTNMMA.PREC is 'amp'; use one of fp16, fp32"),
    (["TEST.FINAL_MODEL", "last_step"], "Set TEST.FINAL_MODEL best_val"),
])
def test_bad_settings_are_named(make, opts, message):
    with pytest.raises(ValueError) as err:
        build_quietly(make(opts=opts))
    assert message in str(err.value)
