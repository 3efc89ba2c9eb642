"""open_clip's pretrained backbones in our CLIP: tiny models built by open_clip itself, served from a
Hugging Face hub cache (offline), must give open_clip's own features and logits, and train with MMA."""
import warnings
from pathlib import Path

import open_clip
import pytest
import torch
from PIL import Image

from clip import clip
from clip.backbones import (UnknownBackboneError, UnsupportedBackboneError, describe, open_clip_catalogue,
                            unsupported_features)
from clip.model import CLIP, set_architecture
from clip.weights import BadWeightsError, WeightsNotFoundError
from dassl.engine import TRAINER_REGISTRY, build_trainer
from dassl.utils import set_random_seed
from mma_helpers import mma_trainer_cfg, write_colour_images
from open_clip_helpers import (TINY_SPECS, make_open_clip_model, pretrained_lookup, put_in_hub_cache,
                               register_configs, served_bytes)
from tools.list_backbones import main as list_backbones_main
from train import build_parser, setup_cfg
from trainers.kit.backbone import settle_backbone_inputs

TEXTS = ["a photo of a red square.", "a blue thing", "green"]


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).norm() / expected.norm())


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Each tiny model config's open_clip model and its served weights file's bytes (configs registered once)."""
    folder = tmp_path_factory.mktemp("open_clip_tiny")
    register_configs(folder / "configs")
    return {spec.name: (model := make_open_clip_model(spec, seed=index), served_bytes(spec, model, folder))
            for index, spec in enumerate(TINY_SPECS)}


@pytest.fixture
def hub_cache(tiny_models, tmp_path, monkeypatch):
    """An offline hub cache holding every tiny model as the hub serves it; the tags in open_clip's registry."""
    cache = tmp_path / "hf_hub"
    for spec in TINY_SPECS:
        put_in_hub_cache(cache, spec.repo, spec.filename, tiny_models[spec.name][1])
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CLIP_CACHE_DIR", str(tmp_path / "clip_cache"))
    monkeypatch.setattr(open_clip, "get_pretrained_cfg", pretrained_lookup(open_clip.get_pretrained_cfg))
    return cache


@pytest.mark.parametrize("spec", TINY_SPECS, ids=lambda spec: spec.name)
def test_features_and_logits_equal_open_clip(spec, tiny_models, hub_cache):
    reference = tiny_models[spec.name][0]
    model, preprocess = clip.load(spec.name, device="cpu", pretrained=spec.tag)
    assert model.context_length == spec.context_length and model.visual.input_resolution == 32
    expected_activation = "QuickGELU" if spec.quick_gelu else "GELU"
    assert type(model.transformer.resblocks[0].mlp.gelu).__name__ == expected_activation
    assert model.transformer.resblocks[0].attn.num_heads == spec.text_heads
    assert model.visual.transformer.resblocks[0].attn.num_heads == 64 // spec.head_width

    picture = Image.new("RGB", (40, 36), (200, 40, 90))
    image = preprocess(picture)[None]
    reference_preprocess = open_clip.image_transform(32, is_train=False, mean=spec.mean, std=spec.std)
    assert torch.allclose(image, reference_preprocess(picture)[None], atol=1e-6)
    images = torch.cat([image, torch.randn(2, 3, 32, 32)])
    tokens = open_clip.get_tokenizer(spec.name)(TEXTS)
    assert torch.equal(tokens, clip.tokenize(TEXTS, context_length=spec.context_length))
    with torch.no_grad():
        expected_image, expected_text = reference.encode_image(images), reference.encode_text(tokens)
        expected_logits = reference.get_logits(images, tokens)[0]
        assert relative_error(model.encode_image(images), expected_image) < 1e-5
        assert relative_error(model.encode_text(tokens), expected_text) < 1e-5
        assert relative_error(model(images, tokens)[0], expected_logits) < 1e-5
        # trainers tokenize at OpenAI's 77: the padding past a shorter context is dropped
        assert relative_error(model.encode_text(clip.tokenize(TEXTS)), expected_text) < 1e-5
    assert model.logit_scale.item() == pytest.approx(spec.logit_scale)


def test_name_colon_tag_and_a_weights_file_as_tag(tiny_models, hub_cache, tmp_path):
    spec = TINY_SPECS[1]  # its model config's activation (GELU) is its tag's, as for a file
    by_colon, colon_preprocess = clip.load(f"{spec.name}:{spec.tag}", device="cpu")
    weights = tmp_path / "weights.bin"
    weights.write_bytes(tiny_models[spec.name][1])
    by_file, file_preprocess = clip.load(spec.name, device="cpu", pretrained=str(weights))
    tokens = clip.tokenize(TEXTS, context_length=spec.context_length)
    with torch.no_grad():
        assert torch.equal(by_colon.encode_text(tokens), by_file.encode_text(tokens))
    assert tuple(colon_preprocess.transforms[-1].mean) == spec.mean
    assert tuple(file_preprocess.transforms[-1].mean) == clip.CLIP_MEAN  # a file has no registry entry


def test_offline_without_the_file_names_the_cache_and_the_fix(hub_cache, tmp_path, monkeypatch):
    empty = tmp_path / "empty_hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(empty))
    spec = TINY_SPECS[0]
    with pytest.raises(WeightsNotFoundError) as error:
        clip.load(spec.name, device="cpu", pretrained=spec.tag)
    message = str(error.value)
    for expected in (f"{spec.name} ({spec.tag})", f"Hugging Face hub cache {empty}", "HF_HUB_OFFLINE is set",
                     f"huggingface-cli download {spec.repo} open_clip_model.safetensors", "MODEL.BACKBONE.PRETRAINED"):
        assert expected in message


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated"])
def test_a_damaged_cached_file_is_named_with_its_sha_and_the_fix(damage, tiny_models, tmp_path, monkeypatch):
    spec = TINY_SPECS[1]
    good = tiny_models[spec.name][1]
    bad = {"garbage": b"not weights at all", "empty": b"", "truncated": good[: len(good) // 2]}[damage]
    cache = tmp_path / "hf_hub"
    snapshot = put_in_hub_cache(cache, spec.repo, spec.filename, good)
    blob = snapshot.resolve()
    blob.write_bytes(bad)  # the download went wrong after the blob was named
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(open_clip, "get_pretrained_cfg", pretrained_lookup(open_clip.get_pretrained_cfg))
    with pytest.raises(BadWeightsError) as error:
        clip.load(spec.name, device="cpu", pretrained=spec.tag)
    message = str(error.value)
    for expected in (str(snapshot), str(blob), f"SHA256 {blob.name}", "delete", "load again"):
        assert expected in message
    assert "weights_only=False" not in message


@pytest.mark.parametrize("content, reason", [
    (b"not weights at all", "not a PyTorch tensor file"),
    (b"", "the file ends before its contents do"),
])
def test_an_unreadable_checkpoint_path_is_explained(content, reason, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(BadWeightsError) as error:
        clip.load(str(path), device="cpu")
    message = str(error.value)
    assert str(path) in message and reason in message and "delete" in message
    assert "weights_only=False" not in message


def test_unsupported_architectures_are_named():
    with pytest.raises(UnsupportedBackboneError, match="SigLIP's sigmoid head.*a timm image tower"):
        describe("ViT-B-16-SigLIP", "webli")
    with pytest.raises(UnsupportedBackboneError, match="a Hugging Face text tower"):
        describe("roberta-ViT-B-32", "laion2b_s12b_b32k")
    with pytest.raises(UnsupportedBackboneError, match="CoCa's captioning decoder"):
        describe("coca_ViT-B-32", "laion2b_s13b_b90k")
    assert unsupported_features(open_clip.get_model_config("ViT-g-14")) == ["vision_cfg.mlp_ratio=4.3637"]
    with pytest.raises(UnknownBackboneError, match=r"needs a pretrained tag .*'laion2b_s34b_b88k'"):
        describe("ViT-B-16", "")
    with pytest.raises(UnknownBackboneError, match="no pretrained tag 'nope' for ViT-L-14"):
        describe("ViT-L-14", "nope")


def test_registry_settings_come_from_open_clip():
    laion = describe("ViT-L-14", "laion2b_s32b_b82k")
    assert (laion.activation, laion.mean, laion.image_size, laion.context_length) == ("gelu", (0.5,) * 3, 224, 77)
    assert (laion.vision_heads, laion.text_heads) == (16, 12)
    assert laion.hub_repo == "laion/CLIP-ViT-L-14-laion2B-s32B-b82K"
    assert describe("ViT-B-16", "dfn2b").activation == "quick_gelu"
    assert describe("ViT-H-14", "laion2b_s32b_b79k").vision_heads == 16  # head width 80
    assert describe("ViT-B/16", "openai", tuple(clip.SOURCES)) == describe("ViT-B/16", "", tuple(clip.SOURCES))
    openai = describe("ViT-B-16", "openai")  # open_clip's spelling: the same release, through the same sources
    assert openai.activation == "quick_gelu" and clip.source_for_url(openai.url) is clip.SOURCES["ViT-B/16"]


@pytest.mark.parametrize("spec", TINY_SPECS, ids=lambda spec: spec.name)
def test_mma_trains_and_evaluates_on_the_backbone(spec, hub_cache, tmp_path, repo_root):
    write_colour_images(tmp_path / "data", "train", per_class=2, seed=0)
    write_colour_images(tmp_path / "data", "test", per_class=1, seed=1)
    cfg = mma_trainer_cfg(tmp_path / "data", tmp_path / "run", spec.name, repo_root, [
        "MODEL.BACKBONE.PRETRAINED", spec.tag, "TRAINER.MMADAPTER.ADAPTER_END", str(spec.layers),
        "OPTIM.MAX_EPOCH", "1"])
    settle_backbone_inputs(cfg)
    assert tuple(cfg.INPUT.PIXEL_MEAN) == spec.mean and tuple(cfg.INPUT.PIXEL_STD) == spec.std
    cfg.freeze()
    set_random_seed(cfg.SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = build_trainer(cfg)
    clip_model = trainer.model.clip_model
    assert type(clip_model.visual.transformer.resblocks[0].mlp.gelu).__name__ == (
        "QuickGELU" if spec.quick_gelu else "GELU")
    before = {key: value.clone() for key, value in trainer.model.adapter_learner.state_dict().items()}
    trainer.train()
    after = trainer.model.adapter_learner.state_dict()
    assert any(not torch.equal(before[key], after[key]) for key in before)
    accuracy = trainer.test()
    assert 0.0 <= accuracy <= 100.0


REPO_ROOT = Path(__file__).resolve().parents[1]
# every registered method with shipped configs (ZeroshotCLIP2 is ZeroshotCLIP's second name)
METHODS = [name for name in sorted(TRAINER_REGISTRY.registered_names())
           if sorted((REPO_ROOT / "configs" / "trainers" / name).glob("vit_*.yaml"))]


@pytest.mark.parametrize("trainer_name", METHODS)
def test_every_trainer_trains_and_evaluates_on_an_open_clip_backbone(trainer_name, hub_cache, fake_data_root,
                                                                     tmp_path, repo_root, monkeypatch):
    """Each registered method's first shipped ViT config, unchanged but for the backbone (a 12-block
    GELU CLIP with a 24-token context and its own normalisation) and a short schedule."""
    config = sorted((repo_root / "configs" / "trainers" / trainer_name).glob("vit_*.yaml"))[0]
    config = f"{trainer_name}/{config.name}"
    monkeypatch.chdir(repo_root)
    spec = TINY_SPECS[1]
    args = build_parser().parse_args([
        "--root", str(fake_data_root), "--seed", "1", "--trainer", trainer_name, "--output-dir", str(tmp_path),
        "--dataset-config-file", "configs/datasets/eurosat.yaml", "--config-file", f"configs/trainers/{config}",
        "--backbone", spec.name, "MODEL.BACKBONE.PRETRAINED", spec.tag, "INPUT.SIZE", "(32, 32)",
        "USE_CUDA", "False", "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "4",
        "DATALOADER.TEST.BATCH_SIZE", "10", "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "1"])
    cfg = setup_cfg(args)
    assert tuple(cfg.INPUT.PIXEL_MEAN) == spec.mean
    trainer = build_trainer(cfg)
    trainer.train()
    assert 0.0 <= trainer.test() <= 100.0


def test_each_method_has_a_vit_l14_example_that_names_a_loadable_backbone(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    for method in METHODS:
        examples = sorted((repo_root / "configs" / "trainers" / method).glob("vit_l14*.yaml"))
        assert len(examples) == 1, method
        args = build_parser().parse_args(["--trainer", method, "--config-file", str(examples[0])])
        cfg = setup_cfg(args)
        assert (cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PRETRAINED) == ("ViT-L-14", "datacomp_xl_s13b_b90k")
        backbone = describe(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PRETRAINED)
        assert backbone.image_size == cfg.INPUT.SIZE[0] and backbone.activation == "gelu"


def test_every_loadable_architecture_has_open_clip_s_shapes_and_heads():
    """Each ViT open_clip publishes weights for and we accept, and RN50 for the ResNets (built on the
    meta device, nothing allocated): the same state-dict keys and shapes, the same attention heads."""
    entries = {entry.model: entry for entry in open_clip_catalogue()
               if entry.backbone is not None and (entry.model.startswith("ViT") or entry.model == "RN50")
               and not entry.model.endswith("-quickgelu")}
    assert {"RN50", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336", "ViT-H-14"} <= set(entries)
    for name, entry in entries.items():
        with torch.device("meta"):
            reference = open_clip.create_model(name, device="meta")
            ours = CLIP(**entry.sizes)
        expected = {key: tuple(value.shape) for key, value in reference.state_dict().items()}
        expected["logit_scale"] = ()
        assert {key: tuple(value.shape) for key, value in ours.state_dict().items()} == expected, name
        set_architecture(ours, entry.backbone.activation, entry.backbone.vision_heads, entry.backbone.text_heads)
        assert ours.transformer.resblocks[0].attn.num_heads == reference.transformer.resblocks[0].attn.num_heads
        if entry.backbone.vision_heads is not None:
            assert ours.visual.transformer.resblocks[0].attn.num_heads == \
                reference.visual.transformer.resblocks[0].attn.num_heads, name


def test_list_backbones_prints_what_loads_with_sizes(capsys):
    list_backbones_main(["--model", "ViT-L-14"])
    printed = capsys.readouterr().out
    laion = next(line for line in printed.splitlines() if "laion2b_s32b_b82k" in line).split()
    assert laion[:7] == ["ViT-L-14", "laion2b_s32b_b82k", "427.6M", "224", "77", "gelu", "0.5/0.5/0.5"]
    assert "OpenAI release (ViT-L/14)" in printed and "ViT-B/16" in printed
    list_backbones_main(["--all", "--model", "ViT-B-16-SigLIP"])
    assert "not loadable: SigLIP's sigmoid head" in capsys.readouterr().out
