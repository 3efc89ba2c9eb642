"""MMA++ against its reference code's numbers (tests/golden/mmapp_tiny.pt): prompt banks, the seeded
draws (prompt ids, dropout masks, consistency scale), every loss term, gradients, evaluation at the
test scale, one SGD step; the description files' literal parser; the released configs."""
from pathlib import Path

import pytest
import torch

from baseline_helpers import make_cfg, relative_error
from dassl.optim import build_lr_scheduler, build_optimizer
from datasets.cupl import DescriptionFileError, parse_description_file
from trainers.mmapp import (IGNORED_CHECKPOINT_KEYS, ConsistencyAdapters, CustomCLIP, PromptBankError,
                            load_CuPL_templates)

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs/trainers/MultiModalAdapterPP"
CASES = ["cupl_top_layers", "hc_from_embedding"]
TOL = 1e-4
HPARAMS = ("INPUT_PROMPTS", "ADAPTER_START", "ADAPTER_END", "ADAPTER_DIM", "ADAPTER_TRAIN_SCALE",
           "ADAPTER_TRAIN_SCALE_REG", "ADAPTER_TEST_SCALE", "ADAPTER_DROP", "PREC")
PHASES = ["text_main", "image_main", "text_reg", "image_reg"]


@pytest.fixture(scope="module")
def golden(golden_dir):
    return torch.load(golden_dir / "mmapp_tiny.pt", map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory, golden):
    """A data root whose EuroSAT description file is the golden's made-up one, laid out as the real ones."""
    root = tmp_path_factory.mktemp("data")
    (root / "cupl").mkdir()
    (root / "cupl" / "eurosat.py").write_text(f"EUROSAT_TEMPLATES = {golden['cupl_descriptions']!r}\n")
    return root


def case_cfg(case, root, **more):
    hp = case["hparams"]
    cfg = make_cfg("MMADAPTERPP", {k: hp[k] for k in HPARAMS}, dataset="EuroSAT")
    cfg.merge_from_list(["DATASET.ROOT", str(root), "OPTIM.NAME", "sgd", "OPTIM.LR", case["sgd_lr"]])
    for key, value in more.items():
        setattr(cfg.TRAINER.MMADAPTERPP, key, value)
    return cfg


def golden_model(golden, name, clip_model, root, **more):
    case = golden["cases"][name]
    model = CustomCLIP(case_cfg(case, root, **more), golden["classnames"], clip_model)
    model.adapter_learner.load_state_dict(case["adapter_state_dict"])
    return case, model


def record_dropout(model):
    """Each drawing dropout call's keep mask (output != 0), in call order (p = 0 draws nothing)."""
    calls = []
    for name, module in model.adapter_learner.shared_adapter.named_children():
        if module[2].p > 0:
            module[2].register_forward_hook(
                lambda mod, args, out, name=name: calls.append((f"shared_adapter.{name}", out != 0)))
    return calls


@pytest.mark.parametrize("name", CASES)
def test_banks_tokenize_like_the_reference(name, golden, clip_fp32, data_root):
    case, model = golden_model(golden, name, clip_fp32, data_root)
    assert torch.equal(model.tk_prompts, case["tk_prompts"])
    assert sum(p.numel() for p in model.adapter_learner.parameters()) == case["trainable_params"]
    assert set(model.adapter_learner.state_dict()) == set(case["adapter_state_dict"])


@pytest.mark.parametrize("name, prefix_cache", [("cupl_top_layers", True), ("cupl_top_layers", False),
                                                ("hc_from_embedding", True)])
def test_seeded_training_step_reproduces_the_reference(name, prefix_cache, golden, clip_fp32, data_root):
    case, model = golden_model(golden, name, clip_fp32, data_root, TEXT_PREFIX_CACHE=prefix_cache)
    calls = record_dropout(model)
    images, labels = golden["images"], golden["labels"]
    model.train()
    torch.manual_seed(case["hparams"]["forward_seed"])
    out = model(images, labels)
    for key in ("ce_loss", "t_loss", "i_loss", "loss"):
        assert relative_error(out[key], case[key]) < TOL, key
    assert relative_error(out["logits"], case["train_logits"]) < TOL

    recorded = case["dropout_masks"]
    assert [module for module, _ in calls] == [m["module"] for m in recorded]
    for (_, keep), reference in zip(calls, recorded):
        assert torch.equal(keep, reference["keep"][: keep.shape[0]]), reference["phase"]
    if recorded:
        assert [m["phase"] for m in recorded][:: len(recorded) // 4] == PHASES

    params = dict(model.adapter_learner.named_parameters())
    for term, reference in (("ce_loss", case["grads_ce"]), ("t_loss", case["grads_t"]), ("i_loss", case["grads_i"])):
        grads = torch.autograd.grad(out[term], list(params.values()), retain_graph=True, allow_unused=True)
        got = {k: g for k, g in zip(params, grads) if g is not None and g.abs().max() > 0}
        assert set(got) <= set(reference), term
        for key, grad in got.items():
            assert relative_error(grad, reference[key]) < 1e-3, (term, key)
    out["loss"].backward()
    with_grad = {k for k, p in params.items() if p.grad is not None}
    assert with_grad == set(case["grads"])
    for key in with_grad:
        assert relative_error(params[key].grad, case["grads"][key]) < TOL, key

    model.eval()
    with torch.no_grad():
        assert relative_error(model.eval_text_features(), case["eval_text_features"]) < TOL
        assert relative_error(model(images), case["eval_logits"]) < TOL
    optim = build_optimizer(model.adapter_learner, case_cfg(case, data_root).OPTIM)
    optim.step()
    after = case["adapter_state_dict_after_sgd_step"]
    for key, value in model.adapter_learner.state_dict().items():
        assert relative_error(value, after[key]) < TOL, key


def test_evaluation_scale_never_leaks_into_training(golden, clip_fp32, data_root):
    case, model = golden_model(golden, "cupl_top_layers", clip_fp32, data_root)
    images, labels = golden["images"], golden["labels"]
    model.eval()
    with torch.no_grad():
        model(images)
    model.train()
    torch.manual_seed(case["hparams"]["forward_seed"])
    out = model(images, labels)
    assert relative_error(out["loss"], case["loss"]) < TOL


def test_adapters_at_vit_b16_sizes_have_the_reference_keys(golden):
    reference = golden["vit_b16"]
    adapters = ConsistencyAdapters(512, 768, 5, 12, 32, 0.1)
    shapes = {k: tuple(v.shape) for k, v in adapters.state_dict().items()}
    assert shapes == {k: tuple(v) for k, v in reference["adapter_state_dict_shapes"].items()}
    assert sum(p.numel() for p in adapters.parameters()) == reference["trainable_params"] == 674_560


@pytest.mark.parametrize("cfg_name", ["b2n_cupl", "b2n_hc", "x2d"])
def test_released_schedules(cfg_name, golden):
    cfg = make_cfg("MMADAPTERPP")
    cfg.merge_from_file(str(CONFIGS / f"{cfg_name}.yaml"))
    optim = build_optimizer(torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(1))]), cfg.OPTIM)
    sched = build_lr_scheduler(optim, cfg.OPTIM)
    lrs = []
    for _ in range(cfg.OPTIM.MAX_EPOCH):
        lrs.append(optim.param_groups[0]["lr"])
        sched.step()
    expected = golden["released_lr_per_epoch"][f"{cfg_name}.yaml"]
    assert torch.allclose(torch.tensor(lrs, dtype=torch.float64), expected.double(), rtol=1e-6)


def test_description_files_are_read_as_data_never_run(tmp_path, golden):
    path = tmp_path / "eurosat.py"
    path.write_text(f"EUROSAT_TEMPLATES = {golden['cupl_descriptions']!r}\n")
    table = parse_description_file(str(path))
    assert table["yellow lady's slipper"][1] == "A yellow orchid flower with twisted brown petals."
    marker = tmp_path / "ran"
    for source in (f"import os\nos.system('touch {marker}')\nX = {{'a': ['b']}}\n",
                   f"X = {{'a': [__import__('os').system('touch {marker}')]}}\n",
                   "X = {'a': ['b']}\nY = {'c': ['d']}\n",
                   "X = {'a': 'not a list'}\n"):
        path.write_text(source)
        with pytest.raises(DescriptionFileError):
            parse_description_file(str(path))
    assert not marker.exists()


def test_missing_files_and_classes_are_named(tmp_path, golden, clip_fp32, data_root):
    with pytest.raises(DescriptionFileError, match=r"cupl/dtd\.py is missing.*tools/download_data\.py .* --cupl"):
        load_CuPL_templates("DescribableTextures", str(tmp_path))
    case = golden["cases"]["cupl_top_layers"]
    with pytest.raises(DescriptionFileError, match="no descriptions for 1 class.*: zebra"):
        CustomCLIP(case_cfg(case, data_root), golden["classnames"] + ["Zebra"], clip_fp32)
    with pytest.raises(PromptBankError, match="INPUT_PROMPTS is 'gpt'"):
        CustomCLIP(case_cfg(case, data_root, INPUT_PROMPTS="gpt"), golden["classnames"], clip_fp32)
    assert "token_embedding" in IGNORED_CHECKPOINT_KEYS


@pytest.mark.parametrize("name", CASES)
def test_a_seeded_build_draws_the_reference_adapters(name, golden, tiny_clip_state_dict, data_root):
    """CLIP's build, then the adapters (text, visual, shared; Kaiming weights, default biases), from
    the reference's seed give its very initial weights."""
    from clip.model import build_model

    case = golden["cases"][name]
    torch.manual_seed(case["hparams"]["build_seed"])
    clip_model = build_model(tiny_clip_state_dict).float()
    model = CustomCLIP(case_cfg(case, data_root), golden["classnames"], clip_model)
    for key, value in model.adapter_learner.state_dict().items():
        assert torch.equal(value, case["adapter_state_dict"][key]), key


def test_downloader_keeps_only_files_with_the_pinned_checksum(tmp_path, monkeypatch):
    """The description files are fetched from the pinned URL pattern; a file whose SHA256 differs is
    removed and reported (here every source file is a stand-in, so the first one fails)."""
    import hashlib

    from tools import download_data

    source = tmp_path / "source"
    source.mkdir()
    for name in download_data.CUPL_FILES:
        (source / name).write_text("X = {'a': ['b']}\n")
    with pytest.raises(download_data.SourceFailed, match="expected the pinned"):
        download_data.fetch_cupl(tmp_path / "root", url_pattern=source.as_uri() + "/{}")
    assert not any((tmp_path / "root" / "cupl").iterdir())
    body = b"X = {'a': ['b']}\n"
    pinned = {name: (len(body), hashlib.sha256(body).hexdigest()) for name in download_data.CUPL_FILES}
    monkeypatch.setattr(download_data, "CUPL_FILES", pinned)
    files = download_data.fetch_cupl(tmp_path / "root", url_pattern=source.as_uri() + "/{}")
    assert [f.name for f in files] == list(pinned) and files[0].parent == tmp_path / "root" / "cupl"
