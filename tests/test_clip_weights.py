"""Weight resolution and downloads (clip.weights, clip.clip), against an HTTP server on 127.0.0.1."""
import hashlib
import http.server
import io
import socket
import threading
import warnings
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch
from open_clip.model import build_model_from_openai_state_dict
from PIL import Image
from safetensors.torch import save_file

from clip import clip
from clip.weights import (SOURCES, BadWeightsError, ChecksumError, ModelSource, WeightsNotFoundError, download_url,
                          hub_to_openai_state_dict, resolve_weights)
from open_clip_helpers import put_in_hub_cache
from tools.make_tiny_clip import main as make_tiny_clip_main
from tools.make_tiny_clip import make_state_dict

VIT_B16 = SOURCES["ViT-B/16"]
HUB_PATH = f"/{VIT_B16.hub_repo}/resolve/main/open_clip_model.safetensors"


class _FileServer:
    """Serves registered paths; `mode` "truncate" advertises the full length and sends half of the body."""

    def __init__(self):
        self.routes: Dict[str, Tuple[bytes, str]] = {}
        self.requests: List[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self, with_body: bool) -> None:
                server.requests.append(f"{self.command} {self.path}")
                if self.path not in server.routes:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, mode = server.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.send_header("X-Repo-Commit", "0" * 40)
                self.end_headers()
                if with_body:
                    self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)

            def do_HEAD(self):
                self._reply(with_body=False)

            def do_GET(self):
                self._reply(with_body=True)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def file_requests(self) -> List[str]:
        return [request for request in self.requests if not request.endswith(" /")]


@pytest.fixture(scope="module")
def server():
    file_server = _FileServer()
    yield file_server
    file_server.httpd.shutdown()
    file_server.httpd.server_close()


@pytest.fixture
def env(server, tmp_path, monkeypatch) -> Path:
    """Points the hub, the official host and the cache at the test server and a fresh folder."""
    server.routes.clear()
    server.requests.clear()
    monkeypatch.setenv("CLIP_HF_ENDPOINT", server.url)
    monkeypatch.setenv("CLIP_OFFICIAL_URL_BASE", f"{server.url}/clip/models")
    cache = tmp_path / "cache"
    monkeypatch.setenv("CLIP_CACHE_DIR", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_hub"))
    return cache


@pytest.fixture(scope="module")
def tiny_state_dict() -> Dict[str, torch.Tensor]:
    return make_state_dict("vit", seed=7)


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _open_clip_layout(state_dict) -> Dict[str, torch.Tensor]:
    model = build_model_from_openai_state_dict(dict(state_dict))
    return {key: value.contiguous().clone() for key, value in model.state_dict().items()}


def _safetensors_bytes(state_dict, tmp_path: Path) -> bytes:
    path = tmp_path / "hub.safetensors"
    save_file(state_dict, str(path))
    return path.read_bytes()


def _fake_source(body: bytes) -> ModelSource:
    """A model whose official SHA256 is that of `body`, so the official path can succeed in a test."""
    return ModelSource("Tiny/8", hashlib.sha256(body).hexdigest(), "Tiny-8.pt", "test/tiny_clip.openai")


def _assert_same_tensors(got, expected) -> None:
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and torch.equal(got[key], value), key


def _coop_style_state_dict(model_path: str) -> Dict[str, torch.Tensor]:
    """What CoOp's load_clip_to_cpu does with `_download`'s path: TorchScript first, then torch.load."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.load(model_path, map_location="cpu").eval().state_dict()
    except RuntimeError:
        return torch.load(model_path, map_location="cpu")


def _files(folder: Path) -> List[str]:
    return sorted(path.name for path in folder.rglob("*")) if folder.exists() else []


def test_official_download_checks_sha_and_caches(server, env, tiny_state_dict):
    body = _torch_bytes(tiny_state_dict)
    sha = hashlib.sha256(body).hexdigest()
    server.routes[f"/clip/models/{sha}/Tiny-8.pt"] = (body, "ok")
    url = f"{server.url}/clip/models/{sha}/Tiny-8.pt"
    path = clip._download(url)
    assert Path(path) == env / "Tiny-8.pt" and Path(path).read_bytes() == body
    assert clip._download(url) == path
    assert server.file_requests() == [f"GET /clip/models/{sha}/Tiny-8.pt"]
    assert _files(env) == ["Tiny-8.pt"]


def test_sha_mismatch_is_a_clear_error_and_caches_nothing(server, env, tiny_state_dict):
    body = _torch_bytes(tiny_state_dict)
    wrong = "0" * 64
    server.routes[f"/clip/models/{wrong}/Tiny-8.pt"] = (body, "ok")
    with pytest.raises(ChecksumError, match=f"SHA256 is {hashlib.sha256(body).hexdigest()} instead of {wrong}"):
        clip._download(f"{server.url}/clip/models/{wrong}/Tiny-8.pt")
    assert _files(env) == []


def test_interrupted_transfer_leaves_nothing(server, env, tiny_state_dict):
    body = _torch_bytes(tiny_state_dict)
    server.routes["/clip/models/partial.pt"] = (body, "truncate")
    with pytest.raises(ConnectionError, match=f"stopped after {len(body) // 2} of {len(body)} bytes"):
        download_url(f"{server.url}/clip/models/partial.pt", env / "partial.pt")
    assert _files(env) == []


def test_hub_layouts_convert_exactly(tiny_state_dict):
    open_clip_layout = _open_clip_layout(tiny_state_dict)
    custom_text = {("text." + k if k.split(".")[0] in ("transformer", "token_embedding", "positional_embedding",
                                                      "ln_final", "text_projection") else k): v
                   for k, v in open_clip_layout.items()}
    wrapped_fp32 = {"module." + k: v.float() for k, v in open_clip_layout.items()}
    wrapped_fp32["module.logit_scale"] = wrapped_fp32["module.logit_scale"].reshape(1)
    for layout in (open_clip_layout, custom_text, wrapped_fp32):
        _assert_same_tensors(hub_to_openai_state_dict(layout), tiny_state_dict)
    broken = dict(open_clip_layout)
    broken["visual.extra.weight"] = broken.pop("visual.ln_post.weight")
    with pytest.raises(ValueError, match=r"missing keys \['visual.ln_post.weight'\]"):
        hub_to_openai_state_dict(broken)


def test_hub_copy_is_converted_cached_and_preferred(server, env, tiny_state_dict, tmp_path):
    server.routes[HUB_PATH] = (_safetensors_bytes(_open_clip_layout(tiny_state_dict), tmp_path), "ok")
    path = clip._download(clip._MODELS["ViT-B/16"])
    assert Path(path) == env / "ViT-B-16-openai-hf.pt"
    assert _files(env) == ["ViT-B-16-openai-hf.pt"]
    hub_folder = tmp_path / "hf_hub" / "models--timm--vit_base_patch16_clip_224.openai"
    assert [p.name for p in (hub_folder / "snapshots").glob("*/*")] == ["open_clip_model.safetensors"]
    _assert_same_tensors(_coop_style_state_dict(path), tiny_state_dict)
    assert not any("/clip/models/" in request for request in server.requests)
    served = len(server.requests)
    model, preprocess = clip.load("ViT-B/16", device="cpu")
    assert len(server.requests) == served, "the cached conversion must be used without network"
    assert model.dtype == torch.float32 and model.visual.input_resolution == 32


def test_the_hugging_face_cache_is_used_offline(server, env, tiny_state_dict, tmp_path, monkeypatch):
    """A copy open_clip or timm already fetched (huggingface_hub's layout) is found with HF_HUB_OFFLINE=1."""
    hub_cache = tmp_path / "hf_hub"
    put_in_hub_cache(hub_cache, VIT_B16.hub_repo, "open_clip_model.safetensors",
                     _safetensors_bytes(_open_clip_layout(tiny_state_dict), tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    converted = resolve_weights(VIT_B16)
    assert converted == env / VIT_B16.converted_filename
    _assert_same_tensors(torch.load(converted, weights_only=True), tiny_state_dict)
    assert server.requests == []


def test_a_damaged_hub_cache_copy_is_named_not_used(server, env, tiny_state_dict, tmp_path, monkeypatch):
    snapshot = put_in_hub_cache(tmp_path / "hf_hub", VIT_B16.hub_repo, "open_clip_model.safetensors",
                                _safetensors_bytes(_open_clip_layout(tiny_state_dict), tmp_path))
    blob = snapshot.resolve()
    blob.write_bytes(blob.read_bytes()[:100])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BadWeightsError) as error:
        resolve_weights(VIT_B16)
    message = str(error.value)
    assert f"SHA256 {blob.name}" in message and str(snapshot) in message and str(blob) in message
    assert "delete" in message and _files(env) == [] and server.requests == []


def test_cache_comes_before_any_network(server, env, tiny_state_dict, tmp_path):
    body = _torch_bytes(tiny_state_dict)
    source = _fake_source(body)
    env.mkdir()
    (env / source.filename).write_bytes(body)
    assert resolve_weights(source) == env / source.filename
    save_file(_open_clip_layout(tiny_state_dict), str(env / VIT_B16.manual_hub_filename))
    converted = resolve_weights(VIT_B16)
    assert converted == env / VIT_B16.converted_filename
    _assert_same_tensors(torch.load(converted, weights_only=True), tiny_state_dict)
    assert server.requests == []


def test_official_url_is_the_last_resort_and_a_bad_cached_file_is_ignored(server, env, tiny_state_dict):
    body = _torch_bytes(tiny_state_dict)
    source = _fake_source(body)
    server.routes[f"/clip/models/{source.official_path}"] = (body, "ok")
    env.mkdir()
    (env / source.filename).write_bytes(b"corrupted")
    with pytest.warns(UserWarning, match="SHA256"):
        path = resolve_weights(source, download_root=env)
    assert path.read_bytes() == body
    hub_requests = [request for request in server.file_requests() if source.hub_repo in request]
    assert hub_requests and server.file_requests()[-1] == f"GET /clip/models/{source.official_path}"


def test_sha_mismatch_in_resolution_names_it_and_caches_nothing(server, env, tiny_state_dict):
    source = _fake_source(b"the released bytes")
    server.routes[f"/clip/models/{source.official_path}"] = (_torch_bytes(tiny_state_dict), "ok")
    with pytest.raises(WeightsNotFoundError, match="instead of " + source.sha256):
        resolve_weights(source)
    assert _files(env) == []


def test_hf_hub_offline_skips_the_hub(server, env, tiny_state_dict, tmp_path, monkeypatch):
    server.routes[HUB_PATH] = (_safetensors_bytes(_open_clip_layout(tiny_state_dict), tmp_path), "ok")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="HF_HUB_OFFLINE is set"):
        resolve_weights(VIT_B16)
    assert server.file_requests() == [f"GET /clip/models/{VIT_B16.official_path}"]


def test_no_network_error_names_model_sources_and_manual_fix(env, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("CLIP_HF_ENDPOINT", closed)
    monkeypatch.setenv("CLIP_OFFICIAL_URL_BASE", f"{closed}/clip/models")
    with pytest.raises(WeightsNotFoundError) as error:
        clip.load("ViT-B/16", device="cpu")
    message = str(error.value)
    for expected in ("CLIP ViT-B/16", f"cache {env}", f"Hugging Face hub {closed}/{VIT_B16.hub_repo}",
                     f"official URL {closed}/clip/models/{VIT_B16.official_path}",
                     f"https://huggingface.co/{VIT_B16.hub_repo}/resolve/main/open_clip_model.safetensors",
                     f"save it as {env / 'ViT-B-16-openai-hf.safetensors'}", f"save it as {env / 'ViT-B-16.pt'}",
                     "MODEL.BACKBONE.NAME"):
        assert expected in message
    assert _files(env) == []


def test_load_by_path_plain_state_dict_and_coop_style_loader(tiny_clip_checkpoint, tiny_clip_state_dict):
    model, preprocess = clip.load(str(tiny_clip_checkpoint), device="cpu")
    assert model.dtype == torch.float32 and not model.training
    image = preprocess(Image.new("RGB", (48, 40), (255, 128, 0)))
    assert image.shape == (3, 32, 32)
    expected = (torch.tensor([1.0, 128 / 255, 0.0]) - torch.tensor(clip.CLIP_MEAN)) / torch.tensor(clip.CLIP_STD)
    assert torch.allclose(image[:, 16, 16], expected, atol=1e-6)
    model_path = clip._download(clip._MODELS[str(tiny_clip_checkpoint)])
    assert model_path == str(tiny_clip_checkpoint)
    assert list(clip.build_model(_coop_style_state_dict(model_path)).state_dict()) == list(tiny_clip_state_dict)


def test_load_torchscript_archive(tmp_path, tiny_state_dict):
    model = clip.build_model(tiny_state_dict).float()
    image, text = torch.randn(1, 3, 32, 32), clip.tokenize("a cat")
    archive = tmp_path / "traced.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, (image, text), check_trace=False), str(archive))
    loaded, _ = clip.load(str(archive), device="cpu")
    assert torch.allclose(loaded.encode_image(image), model.encode_image(image), atol=1e-6)


def test_bad_names_and_jit_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown CLIP backbone 'ViT-X/1': use an OpenAI name \(RN50, RN101"):
        clip.load("ViT-X/1", device="cpu")
    with pytest.raises(KeyError, match="unknown CLIP model 'ViT-X/1'"):
        clip._MODELS["ViT-X/1"]
    with pytest.raises(ValueError, match="jit=False"):
        clip.load("ViT-B/16", device="cpu", jit=True)
    models = clip.available_models()
    assert models[:9] == ["RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B/32", "ViT-B/16",
                          "ViT-L/14", "ViT-L/14@336px"]
    for loadable in ("ViT-B-16:laion2b_s34b_b88k", "ViT-B-16:dfn2b", "ViT-L-14:datacomp_xl_s13b_b90k",
                     "ViT-B-32:metaclip_fullcc", "ViT-H-14:laion2b_s32b_b79k"):
        assert loadable in models
    assert not [name for name in models if "SigLIP" in name or name.startswith(("EVA", "coca", "roberta"))]
    assert clip._MODELS["ViT-B/16"] == ("https://openaipublic.azureedge.net/clip/models/"
                                        "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt")


def test_make_tiny_clip_cli_writes_a_loadable_checkpoint(tmp_path, capsys):
    out = tmp_path / "nested" / "tiny_rn.pt"
    make_tiny_clip_main(["--arch", "rn", "--out", str(out), "--seed", "2"])
    assert "wrote a random rn CLIP" in capsys.readouterr().out
    _assert_same_tensors(torch.load(out, weights_only=True), make_state_dict("rn", seed=2))
    model, _ = clip.load(str(out), device="cpu")
    assert model.encode_image(torch.randn(1, 3, 64, 64)).shape == (1, 64)
