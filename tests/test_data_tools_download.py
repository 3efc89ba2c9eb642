"""tools/download_data.py against a local HTTP server on 127.0.0.1 (mirror, official fallback, resume,
ImageNet) and against a Hugging Face cache laid out as huggingface_hub lays it, offline."""
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from datasets_helpers import load, per_label
from tools import download_data


class FileServer(ThreadingHTTPServer):
    """Serves ``files`` ({request path: bytes}) with HTTP Range support; records every request."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.files = {}
        self.requests = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
        if start >= len(data) and start:
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = FileServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def zip_tree(entries) -> bytes:
    """A zip of (archive name, source file) pairs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for arcname, source in entries:
            bundle.write(source, arcname)
    return buffer.getvalue()


def tar_tree(entries) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for arcname, source in entries:
            bundle.add(source, arcname)
    return buffer.getvalue()


def files_under(folder: Path, prefix: str, rename=lambda rel: rel):
    return [(f"{prefix}/{rename(p.relative_to(folder).as_posix())}", p) for p in sorted(folder.rglob("*")) if p.is_file()]


def kaggle_style_cars(rel: str) -> str:
    """The layout of common Stanford Cars copies: nested image folders, car_devkit/, a '(1)' test file."""
    for split in ("cars_train", "cars_test"):
        if rel.startswith(split + "/"):
            return f"{split}/{rel}"
    if rel.startswith("devkit/"):
        return "car_devkit/" + rel
    return rel.replace("cars_test_annos_withlabels.mat", "cars_test_annos_withlabels (1).mat")


def test_mirror_archives_are_unpacked_remapped_and_checked(server, fake_data_root, tmp_path, capsys):
    server.files["/hf/eurosat.zip"] = zip_tree(files_under(fake_data_root / "eurosat", "eurosat"))
    server.files["/hf/stanford_cars.zip"] = zip_tree(
        files_under(fake_data_root / "stanford_cars", "stanford_cars", kaggle_style_cars))
    root = tmp_path / "data"
    argv = [str(root), "--names", "eurosat", "stanford_cars", "--base", f"mirror={server.url}/hf"]
    assert download_data.main(argv) == 0
    out = capsys.readouterr().out
    assert "eurosat" in out and "sizes differ" in out
    assert not list((root / ".mma_download").rglob("*.zip"))

    cars = root / "stanford_cars"
    assert (cars / "cars_test_annos_withlabels.mat").is_file() and (cars / "devkit" / "cars_meta.mat").is_file()
    (cars / "split_zhou_StanfordCars.json").unlink()
    built, _ = load(root, "StanfordCars")
    assert built.num_classes == 196 and len(built.test) == 392
    assert per_label(load(root, "EuroSAT")[0].test) == {label: 2 for label in range(10)}

    assert download_data.main(argv) == 0
    assert "already in place" in capsys.readouterr().out


def test_official_hosts_are_used_when_the_mirror_fails(server, fake_data_root, tmp_path, capsys):
    fgvc = fake_data_root / "fgvc_aircraft"
    server.files["/vgg/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz"] = tar_tree(
        files_under(fgvc, "fgvc-aircraft-2013b/data"))
    server.files["/zenodo/EuroSAT_RGB.zip"] = zip_tree(files_under(fake_data_root / "eurosat" / "2750", "EuroSAT_RGB"))
    split_name, drive_id = download_data.SPLIT_FILES["eurosat"]
    server.files[f"/gd/uc?export=download&id={drive_id}"] = (fake_data_root / "eurosat" / split_name).read_bytes()
    root = tmp_path / "data"
    argv = [str(root), "--names", "fgvc_aircraft", "EuroSAT", "--base", f"mirror={server.url}/hf",
            "--base", f"vgg={server.url}/vgg", "--base", f"zenodo={server.url}/zenodo", "--base", f"gdrive={server.url}/gd"]
    assert download_data.main(argv) == 0
    out = capsys.readouterr().out
    assert "eurosat: the mirror source failed" in out and "404" in out
    assert load(root, "FGVCAircraft")[0].num_classes == 100
    assert load(root, "EuroSAT")[0].classnames[0] == "Annual Crop Land"


def test_all_sources_failing_is_reported(server, tmp_path, capsys):
    root = tmp_path / "data"
    argv = [str(root), "--names", "dtd", "--base", f"mirror={server.url}/hf", "--base", f"vgg={server.url}/vgg"]
    assert download_data.main(argv) == 1
    out = capsys.readouterr().out
    assert "DescribableTextures: no source worked:" in out
    assert f"mirror: {server.url}/hf/dtd.zip: HTTP Error 404" in out
    assert f"official: {server.url}/vgg/dtd/download/dtd-r1.0.1.tar.gz: HTTP Error 404" in out


def test_download_resumes_from_a_part_file(server, tmp_path):
    blob = os.urandom(300_000)
    server.files["/big.bin"] = blob
    dest = tmp_path / "big.bin"
    dest.with_name("big.bin.part").write_bytes(blob[:100_000])
    download_data.download(f"{server.url}/big.bin", dest)
    assert dest.read_bytes() == blob
    assert server.requests == [("/big.bin", "bytes=100000-")]
    assert not dest.with_name("big.bin.part").exists()


def test_base_urls_from_environment_and_arguments():
    urls = download_data.base_urls(["vgg=http://127.0.0.1:1/v/"], {"MMA_DATA_BASE_MIRROR": "http://127.0.0.1:1/m/"})
    assert urls["mirror"] == "http://127.0.0.1:1/m" and urls["vgg"] == "http://127.0.0.1:1/v"
    with pytest.raises(ValueError, match="--base expects NAME=URL"):
        download_data.base_urls(["nowhere=http://x"])


def flat_imagenet(fake_data_root: Path, root: Path) -> list:
    """ImageNet with the val images flat in images/val, as ILSVRC2012_img_val.tar unpacks; returns (file, wnid)."""
    imagenet = root / "imagenet"
    (imagenet / "images" / "val").mkdir(parents=True)
    (imagenet / "images" / "train").symlink_to(fake_data_root / "imagenet" / "images" / "train")
    shutil.copy(fake_data_root / "imagenet" / "classnames.txt", imagenet)
    shutil.copy(fake_data_root / "imagenet" / ".fake_dataset", imagenet)  # every class, fewer images
    pairs = []
    for wnid_dir in sorted((fake_data_root / "imagenet" / "images" / "val").iterdir()):
        for image in wnid_dir.iterdir():
            shutil.copy(image, imagenet / "images" / "val" / image.name)
            pairs.append((image.name, wnid_dir.name))
    return sorted(pairs)


def test_imagenet_instructions_then_val_repair_from_a_label_file(fake_data_root, tmp_path, capsys):
    pairs = flat_imagenet(fake_data_root, tmp_path)
    assert download_data.main([str(tmp_path), "--names", "imagenet"]) == 1
    out = capsys.readouterr().out
    assert "ILSVRC2012_img_val.tar" in out and f"{tmp_path}/imagenet/images/val" in out
    assert "no class folders" in out

    labels = tmp_path / "LOC_val_solution.csv"
    labels.write_text("ImageId,PredictionString\n" + "".join(f"{Path(f).stem},{w} 1 2 3 4\n" for f, w in pairs))
    assert download_data.main([str(tmp_path), "--names", "imagenet", "--repair-val-labels", str(labels)]) == 0
    assert "Moved 1,000 val images into class folders" in capsys.readouterr().out
    data, _ = load(tmp_path, "ImageNet")
    assert len(data.test) == 1000 and data.test[0].classname == "tench"


def test_imagenet_val_repair_from_the_devkit(fake_data_root, tmp_path):
    pairs = flat_imagenet(fake_data_root, tmp_path)
    wnids = sorted({w for _, w in pairs})
    ilsvrc_id = {wnid: index + 1 for index, wnid in enumerate(reversed(wnids))}  # the devkit's ids are not sorted-wnid order
    synsets = np.zeros((len(wnids), 1), dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O")])
    for row, wnid in enumerate(wnids):
        synsets[row, 0] = (np.array([[ilsvrc_id[wnid]]]), np.array([wnid]), np.array(["a class"]))
    data_dir = tmp_path / "devkit" / "ILSVRC2012_devkit_t12" / "data"
    data_dir.mkdir(parents=True)
    savemat(str(data_dir / "meta.mat"), {"synsets": synsets})
    (data_dir / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{ilsvrc_id[w]}\n" for _, w in pairs))
    devkit = tmp_path / "ILSVRC2012_devkit_t12.tar.gz"
    devkit.write_bytes(tar_tree(files_under(tmp_path / "devkit" / "ILSVRC2012_devkit_t12", "ILSVRC2012_devkit_t12")))

    assert download_data.repair_imagenet_val(tmp_path, devkit) == 1000
    val = tmp_path / "imagenet" / "images" / "val"
    assert sorted((p.name, p.parent.name) for p in val.glob("*/*.JPEG")) == pairs


MIRROR_REPO = "zhengli97/prompt_learning_dataset"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_hub_cache(cache: Path, repo_id: str, files) -> Path:
    """huggingface_hub's cache layout: blobs/<hash>, refs/main -> commit, snapshots/<commit>/<file> -> blob."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return repo


def test_hub_urls_are_recognised_and_other_urls_are_plain_http():
    hub = download_data.hub_file(f"{download_data.BASE_URLS['mirror']}/eurosat.zip")
    assert hub == download_data.HubFile("https://huggingface.co", MIRROR_REPO, "model", "main", "eurosat.zip")
    sketch = download_data.hub_file(f"{download_data.BASE_URLS['sketch']}/ImageNet-Sketch.zip")
    assert (sketch.repo_id, sketch.repo_type, sketch.filename) == ("songweig/imagenet_sketch", "dataset",
                                                                    "data/ImageNet-Sketch.zip")
    local = download_data.hub_file("https://hf.example/org/repo/resolve/v1/a.zip", environ={"HF_ENDPOINT": "https://hf.example/"})
    assert local == download_data.HubFile("https://hf.example", "org/repo", "model", "v1", "a.zip")
    assert download_data.hub_file("https://hf.example/org/repo/resolve/v1/a.zip", environ={}) is None
    assert download_data.hub_file("https://zenodo.org/records/7711810/files/EuroSAT_RGB.zip") is None


def test_the_mirror_is_read_from_the_hugging_face_cache_offline(fake_data_root, tmp_path):
    cache = tmp_path / "hf_cache"
    repo = fake_hub_cache(cache, MIRROR_REPO, {"eurosat.zip": zip_tree(files_under(fake_data_root / "eurosat", "eurosat"))})
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MMA_DATA_BASE_", "HF_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache))
    root = tmp_path / "data"
    command = [sys.executable, str(Path(download_data.__file__)), str(root), "--names", "eurosat", "dtd",
               "--source", "mirror"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr  # dtd is not in the cache
    assert "eurosat.zip (through the Hugging Face cache)" in done.stdout
    assert per_label(load(root, "EuroSAT")[0].test) == {label: 2 for label in range(10)}
    assert "dtd: the mirror source failed" in done.stdout and "dtd.zip" in done.stdout
    assert len(list((repo / "blobs").iterdir())) == 1  # the hub's cache keeps its file
    assert not list((root / ".mma_download").rglob("*.zip"))
