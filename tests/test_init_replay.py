"""Building CLIP without drawing its initialisation (MODEL.BACKBONE.REPLAY_INIT): the same model, and the
generator left exactly where drawing would leave it, so the adapters start from the same weights."""
from dataclasses import asdict

import pytest
import torch

import trainers.kit.init_replay as init_replay
from clip.model import CLIP, build_model, config_from_state_dict
from dassl.engine import build_trainer
from dassl.utils import set_random_seed
from mma_helpers import mma_trainer_cfg, write_colour_images
from trainers.kit.init_replay import InitReplay


def tiny_resnet_state_dict():
    model = CLIP(embed_dim=16, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=8,
                 vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=64,
                 transformer_heads=1, transformer_layers=2)
    return model.state_dict()


@pytest.fixture(params=["vit", "resnet"])
def state_dict(request, tiny_clip_state_dict):
    return tiny_clip_state_dict if request.param == "vit" else tiny_resnet_state_dict()


def all_tensors(model):
    """Parameters and every buffer, the non-persistent attention masks included."""
    return dict(model.named_parameters(), **dict(model.named_buffers()))


def test_a_build_without_the_draw_is_the_same_model_and_draws_nothing(state_dict):
    torch.manual_seed(0)
    drawn = build_model(state_dict)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    skipped = build_model(state_dict, draw_initialisation=False)
    assert torch.equal(torch.get_rng_state(), before)
    expected, got = all_tensors(drawn), all_tensors(skipped)
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.dtype and got[name].device == tensor.device, name
        assert torch.equal(got[name], tensor), name
    assert not skipped.training
    text = torch.randint(1, 400, (2, 77))
    with torch.no_grad():
        assert torch.equal(skipped.float().encode_text(text), drawn.float().encode_text(text))


def end_state_of_a_drawn_build(state_dict, seed):
    torch.manual_seed(seed)
    build_model(state_dict)
    return torch.get_rng_state()


def test_the_recorded_end_state_is_replayed_in_a_later_process(tmp_path, state_dict, monkeypatch):
    draws = []
    real_build = init_replay.build_model
    monkeypatch.setattr(init_replay, "build_model",
                        lambda sd, draw_initialisation=True: draws.append(draw_initialisation) or real_build(sd, draw_initialisation))
    for seed in (1, 2):
        torch.manual_seed(seed)
        InitReplay(tmp_path).build(state_dict)  # first process: draws and records
        assert torch.equal(torch.get_rng_state(), end_state_of_a_drawn_build(state_dict, seed))
    assert len(list(tmp_path.glob("*.pt"))) == 2
    torch.manual_seed(2)
    InitReplay(tmp_path).build(state_dict)  # a later process: jumps
    assert torch.equal(torch.get_rng_state(), end_state_of_a_drawn_build(state_dict, 2))
    assert draws == [True, True, False]


def test_other_sizes_from_the_same_state_are_recorded_apart(tiny_clip_state_dict):
    replay = InitReplay()
    resnet = tiny_resnet_state_dict()
    for state_dict in (tiny_clip_state_dict, resnet, tiny_clip_state_dict, resnet):
        torch.manual_seed(5)
        replay.advance(asdict(config_from_state_dict(state_dict)))
        assert torch.equal(torch.get_rng_state(), end_state_of_a_drawn_build(state_dict, 5))


def test_a_damaged_record_is_drawn_again_and_rewritten(tmp_path, tiny_clip_state_dict):
    torch.manual_seed(3)
    InitReplay(tmp_path).build(tiny_clip_state_dict)
    (record,) = tmp_path.glob("*.pt")
    record.write_bytes(b"not a tensor")
    torch.manual_seed(3)
    InitReplay(tmp_path).build(tiny_clip_state_dict)
    assert torch.equal(torch.get_rng_state(), end_state_of_a_drawn_build(tiny_clip_state_dict, 3))
    assert torch.equal(torch.load(record, weights_only=True), torch.get_rng_state())


def test_a_read_only_cache_still_builds_the_same(tmp_path, tiny_clip_state_dict):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the record folder should be")
    torch.manual_seed(4)
    InitReplay(blocked / "init_rng").build(tiny_clip_state_dict)
    assert torch.equal(torch.get_rng_state(), end_state_of_a_drawn_build(tiny_clip_state_dict, 4))


def test_the_trainer_starts_from_the_same_adapters_with_or_without_the_draw(
        tmp_path, tiny_clip_checkpoint, repo_root, monkeypatch):
    """Three fresh 'processes' (REPLAY_INIT off; on with no record; on with the record): the initial
    adapter weights and the generator state after building the model are bitwise equal."""
    monkeypatch.setenv("CLIP_CACHE_DIR", str(tmp_path / "cache"))
    write_colour_images(tmp_path / "data", "train", per_class=1, seed=0)
    write_colour_images(tmp_path / "data", "test", per_class=1, seed=1)

    def fresh_trainer(replay_init):
        monkeypatch.setattr(init_replay, "_default", None)
        cfg = mma_trainer_cfg(tmp_path / "data", tmp_path / "run", tiny_clip_checkpoint, repo_root,
                              ["MODEL.BACKBONE.REPLAY_INIT", str(replay_init)])
        cfg.freeze()
        set_random_seed(cfg.SEED)
        trainer = build_trainer(cfg)
        adapters = {k: v.clone() for k, v in trainer.model.adapter_learner.state_dict().items()}
        return adapters, torch.get_rng_state()

    reference_adapters, reference_state = fresh_trainer(False)
    assert not (tmp_path / "cache" / "init_rng").exists()
    for _ in range(2):
        adapters, state = fresh_trainer(True)
        assert torch.equal(state, reference_state)
        assert all(torch.equal(adapters[k], v) for k, v in reference_adapters.items())
    assert len(list((tmp_path / "cache" / "init_rng").glob("*.pt"))) == 1


def test_no_cache_switch_keeps_the_records_in_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(init_replay, "_default", None)
    assert init_replay.default_replay(True).folder == tmp_path / "cache" / "init_rng"
    monkeypatch.setenv("MMA_NO_CACHE", "1")
    in_memory = init_replay.default_replay(True)
    assert in_memory.folder is None and init_replay.default_replay(True) is in_memory
    assert init_replay.default_replay(False) is None
