"""Fixtures shared by the whole suite: golden files, a tiny CLIP, a fake data root."""
import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="session", autouse=True)
def isolated_hub_cache(tmp_path_factory) -> Path:
    """The suite never reads or fills the machine's Hugging Face cache (CLIP weights are looked up there)."""
    folder = tmp_path_factory.mktemp("hf_hub_cache")
    os.environ["HF_HUB_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def mma_golden() -> dict:
    """The reference MMA numbers on a tiny CLIP (see tests/golden/README.md)."""
    return torch.load(GOLDEN_DIR / "mma_tiny.pt", map_location="cpu", weights_only=False)


@pytest.fixture(scope="session")
def coop_golden() -> dict:
    return torch.load(GOLDEN_DIR / "coop_tiny.pt", map_location="cpu", weights_only=False)


@pytest.fixture(scope="session")
def attnmma_golden() -> dict:
    return torch.load(GOLDEN_DIR / "attnmma_embed.pt", map_location="cpu", weights_only=False)


@pytest.fixture(scope="session")
def tiny_clip_state_dict(mma_golden) -> dict:
    """A tiny ViT CLIP in OpenAI's state-dict layout (fp16, as released checkpoints)."""
    return mma_golden["clip_state_dict"]


@pytest.fixture(scope="session")
def tiny_clip_checkpoint(tmp_path_factory, tiny_clip_state_dict) -> Path:
    """The tiny CLIP saved as a plain state-dict file, usable as MODEL.BACKBONE.NAME."""
    path = tmp_path_factory.mktemp("clip") / "tiny_vit.pt"
    torch.save(tiny_clip_state_dict, path)
    return path


@pytest.fixture(scope="session")
def fake_data_root(tmp_path_factory) -> Path:
    """Tiny copies of all 15 datasets in the real CoOp layouts, written once per session."""
    from tools.make_fake_datasets import make_fake_datasets

    root = tmp_path_factory.mktemp("data")
    make_fake_datasets(root)
    return root


@pytest.fixture(scope="session")
def warm_python(tmp_path_factory):
    """PYTHON for script tests: each launched Python file runs in a fork of one interpreter that has
    imported torch and the project (tests/script_runner.py)."""
    from script_runner import WarmPython

    server = WarmPython(tmp_path_factory.mktemp("warm"))
    yield str(server.executable)
    server.close()


@pytest.fixture(scope="module")
def clip_fp32(tiny_clip_state_dict):
    """The tiny CLIP in fp32, one per test module (tests may change it)."""
    from baseline_helpers import fp32_clip
    return fp32_clip(tiny_clip_state_dict)


@pytest.fixture(scope="module")
def tiny_images_root(tmp_path_factory) -> Path:
    """A data root with the engine tests' tiny image folder, one per test module."""
    from dassl_helpers import write_tiny_images
    root = tmp_path_factory.mktemp("tiny_images")
    write_tiny_images(str(root))
    return root

