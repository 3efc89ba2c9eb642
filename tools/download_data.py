"""Download, unpack and arrange the datasets into the CoOp layout, then check them.

Usage:
  python tools/download_data.py ROOT [--names oxford_pets dtd ...] [--source auto|mirror|official]
  python tools/download_data.py ROOT --names imagenet                    (prints what to fetch by hand)
  python tools/download_data.py ROOT --names imagenet --repair-val-labels LABELS
  python tools/download_data.py --print-urls
  python tools/download_data.py ROOT --cupl        (MMA++'s LLM class descriptions, into ROOT/cupl/)

Many links in the papers are dead (Stanford Cars, SUN397, the split files on Google Drive). The
default source for the 14 non-ImageNet datasets is the community mirror on Hugging Face
(zhengli97/prompt_learning_dataset: the CoOp layout with the split_zhou files); where it fails, the
official hosts that still answer are tried (with the split files from CoOp's Google Drive links).
Files on the Hugging Face hub are fetched with huggingface_hub: they go to the hub's own cache (a file
already there is not fetched again, also with HF_HUB_OFFLINE=1), transfers resume, the hub's token
(HF_TOKEN or ``hf auth login``) and integrity checks apply. Other downloads resume from a ``.part``
file, show a progress bar, and land in ROOT/.mma_download/; after
unpacking, archive layouts that differ from CoOp's are remapped (Stanford Cars copies nest folders
and rename the test annotations), and every dataset is loaded with its reader and its split sizes
are compared with the published ones (tools/check_data.py). Each host's base URL can be replaced
with ``--base NAME=URL`` or the environment variable MMA_DATA_BASE_<NAME>, e.g. for a local mirror.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from huggingface_hub.utils import EntryNotFoundError, HFValidationError

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from dassl.utils.errors import (  # noqa: E402
    ConfigValueError, CorruptFileError, InputFileNotFoundError, add_debug_flag, run_cli,
)
from tools.check_data import NOT_READY, format_table, inspect  # noqa: E402
from datasets.catalog import CATALOG, lookup  # noqa: E402
from datasets.cupl import CUPL_FILES, CUPL_FOLDER, CUPL_URL  # noqa: E402

BASE_URLS = {
    "mirror": "https://huggingface.co/zhengli97/prompt_learning_dataset/resolve/main",
    "gdrive": "https://drive.google.com",
    "caltech": "https://data.caltech.edu/records/mzrjq-6wc02/files",
    "vgg": "https://www.robots.ox.ac.uk/~vgg/data",
    "ethz": "https://data.vision.ee.ethz.ch/cvl",
    "zenodo": "https://zenodo.org/records/7711810/files",
    "imagenetv2": "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main",
    "sketch": "https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data",
    "berkeley": "https://people.eecs.berkeley.edu/~hendrycks",
}
DOWNLOAD_FOLDER = ".mma_download"
CHUNK = 1 << 20
SAFE_TAR = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
USER_AGENT = "mma-download-data/1.0"
HUB_ENDPOINT = "https://huggingface.co"
# What a failed transfer raises: urllib's errors and the hub's (network, HTTP and missing cache entries
# are OSErrors there too; a missing remote file or a malformed repository name are not).
FETCH_ERRORS = (OSError, EntryNotFoundError, HFValidationError)
# <endpoint>/[datasets/|spaces/]<owner>/<repo>/resolve/<revision>/<path in the repository>
HUB_FILE_URL = re.compile(
    r"^(?P<endpoint>https?://[^/]+)/(?:(?P<kind>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$"
)


@dataclass(frozen=True)
class HubFile:
    """One file of a Hugging Face hub repository, as huggingface_hub names it."""

    endpoint: str
    repo_id: str
    repo_type: str
    revision: str
    filename: str


class SourceFailed(RuntimeError):
    """One source could not deliver a usable dataset; the next source is tried."""


# ----------------------------------------------------------------------------------------------
# Fetching: resumable HTTP downloads with a progress bar
# ----------------------------------------------------------------------------------------------

def base_urls(overrides: Sequence[str] = (), environ: Mapping[str, str] = os.environ) -> Dict[str, str]:
    """The host table with MMA_DATA_BASE_<NAME> variables, then ``NAME=URL`` arguments, applied."""
    urls = dict(BASE_URLS)
    for name in urls:
        if f"MMA_DATA_BASE_{name.upper()}" in environ:
            urls[name] = environ[f"MMA_DATA_BASE_{name.upper()}"]
    for item in overrides:
        name, sep, url = item.partition("=")
        if not sep or name not in urls:
            raise ConfigValueError(f"--base expects NAME=URL with NAME one of {sorted(urls)}, got {item!r}")
        urls[name] = url
    return {name: url.rstrip("/") for name, url in urls.items()}


def hub_file(url: str, environ: Mapping[str, str] = os.environ) -> Optional[HubFile]:
    """The hub file a ``.../resolve/<revision>/<path>`` URL on huggingface.co (or $HF_ENDPOINT) names;
    None for any other URL, which is fetched over plain HTTP."""
    match = HUB_FILE_URL.match(url)
    endpoints = {HUB_ENDPOINT, environ.get("HF_ENDPOINT", "").rstrip("/")}
    if match is None or match.group("endpoint") not in endpoints:
        return None
    kind = {"datasets": "dataset", "spaces": "space"}.get(match.group("kind") or "", "model")
    return HubFile(match.group("endpoint"), match.group("repo"), kind, match.group("revision"), match.group("path"))


def download_from_hub(hub: HubFile) -> Path:
    """Fetch through huggingface_hub into its cache and return the cached file (see the docstring above)."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(hub.repo_id, hub.filename, repo_type=hub.repo_type, revision=hub.revision,
                                endpoint=hub.endpoint))


def download(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest``, resuming a previous ``dest.part`` with an HTTP Range request."""
    from tqdm import tqdm

    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as err:
        if err.code == 416 and offset:  # the .part file already holds every byte
            os.replace(part, dest)
            return dest
        raise
    with response:
        resumed = offset > 0 and response.status == 206
        length = response.headers.get("Content-Length")
        total = (int(length) + (offset if resumed else 0)) if length is not None else None
        done = offset if resumed else 0
        with open(part, "ab" if resumed else "wb") as handle, tqdm(
            total=total, initial=done, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr
        ) as bar:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                handle.write(chunk)
                done += len(chunk)
                bar.update(len(chunk))
    if total is not None and done != total:
        raise SourceFailed(f"{url}: got {done:,} of {total:,} bytes; run again to resume from {part}")
    os.replace(part, dest)
    return dest


# ----------------------------------------------------------------------------------------------
# Unpacking and arranging into the CoOp layout
# ----------------------------------------------------------------------------------------------

def unpack(archive: Path, into: Path) -> None:
    """Extract a zip or tar(.gz) archive with a progress bar; other files are copied as they are."""
    from tqdm import tqdm

    into.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for member in tqdm(bundle.infolist(), desc=f"unpacking {archive.name}", unit="file", file=sys.stderr):
                bundle.extract(member, into)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            members = bundle.getmembers()
            for member in tqdm(members, desc=f"unpacking {archive.name}", unit="file", file=sys.stderr):
                if os.path.isabs(member.name) or ".." in Path(member.name).parts:
                    raise SourceFailed(f"{archive.name} holds an unsafe path {member.name!r}; not unpacking it")
                bundle.extract(member, into, **SAFE_TAR)
    else:
        shutil.copy2(archive, into / archive.name)


def find_shallowest(top: Path, name: str) -> Path:
    """The entry called ``name`` closest to ``top`` (breadth first; macOS metadata folders skipped)."""
    level = [top]
    while level:
        for folder in level:
            if (folder / name).exists():
                return folder / name
        level = sorted(p for folder in level for p in folder.iterdir() if p.is_dir() and p.name != "__MACOSX")
    raise SourceFailed(f"the unpacked files hold no {name!r} (under {top})")


def merge_into(src: Path, dst: Path) -> None:
    """Move ``src`` (a file or folder) to ``dst``, merging folders and replacing files."""
    if src.is_dir() and dst.is_dir():
        for entry in list(src.iterdir()):
            merge_into(entry, dst / entry.name)
        src.rmdir()
        return
    if dst.is_dir():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


Arrange = Callable[[Path, Path], None]


def folder_holding(marker: str) -> Arrange:
    """Move everything beside ``marker`` (the dataset folder of a CoOp-layout archive) into place."""
    def arrange(staging: Path, dataset_dir: Path) -> None:
        merge_into(find_shallowest(staging, marker).parent, dataset_dir)
    return arrange


def moved(name: str, to: str) -> Arrange:
    """Move the entry ``name`` to ``dataset_dir/to`` (e.g. EuroSAT_RGB -> 2750)."""
    def arrange(staging: Path, dataset_dir: Path) -> None:
        merge_into(find_shallowest(staging, name), dataset_dir / to)
    return arrange


def unpacked_inner(name: str) -> Arrange:
    """Unpack an archive that came inside the downloaded one, next to itself."""
    def arrange(staging: Path, dataset_dir: Path) -> None:
        inner = find_shallowest(staging, name)
        unpack(inner, inner.parent)
        inner.unlink()
    return arrange


def in_order(*steps: Arrange) -> Arrange:
    def arrange(staging: Path, dataset_dir: Path) -> None:
        for step in steps:
            step(staging, dataset_dir)
    return arrange


def first_that_fits(*choices: Arrange) -> Arrange:
    """Try layouts in turn; the first whose markers are present wins."""
    def arrange(staging: Path, dataset_dir: Path) -> None:
        problems = []
        for choice in choices:
            try:
                return choice(staging, dataset_dir)
            except SourceFailed as err:
                problems.append(str(err))
        raise SourceFailed("; ".join(problems))
    return arrange


def fix_stanford_cars(dataset_dir: Path) -> None:
    """Map the layouts of common Stanford Cars copies onto CoOp's.

    Seen in the wild: cars_train/cars_train/*.jpg (Kaggle), car_devkit/devkit/, and the test labels
    named 'cars_test_annos_withlabels (1).mat' or kept inside devkit/.
    """
    for split in ("cars_train", "cars_test"):
        nested = dataset_dir / split / split
        if nested.is_dir():
            merge_into(nested, dataset_dir / split)
    if (dataset_dir / "car_devkit" / "devkit").is_dir():
        merge_into(dataset_dir / "car_devkit" / "devkit", dataset_dir / "devkit")
        shutil.rmtree(dataset_dir / "car_devkit")
    target = dataset_dir / "cars_test_annos_withlabels.mat"
    for candidate in ("cars_test_annos_withlabels (1).mat", "devkit/cars_test_annos_withlabels.mat",
                      "devkit/cars_test_annos_withlabels (1).mat"):
        if not target.exists() and (dataset_dir / candidate).is_file():
            os.replace(dataset_dir / candidate, target)


# ----------------------------------------------------------------------------------------------
# Where each dataset comes from
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fetch:
    host: str
    path: str
    filename: str


@dataclass(frozen=True)
class Source:
    kind: str
    fetches: Tuple[Fetch, ...]
    arrange: Arrange


# CoOp's split files on Google Drive (the ids from CoOp's DATASETS.md); used with the official archives.
SPLIT_FILES = {
    "caltech101": ("split_zhou_Caltech101.json", "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN"),
    "oxford_pets": ("split_zhou_OxfordPets.json", "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs"),
    "food101": ("split_zhou_Food101.json", "1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl"),
    "dtd": ("split_zhou_DescribableTextures.json", "1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"),
    "eurosat": ("split_zhou_EuroSAT.json", "1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o"),
}


def mirror(archive: str, marker: str, *alternatives: Arrange) -> Source:
    return Source("mirror", (Fetch("mirror", archive, archive),), first_that_fits(folder_holding(marker), *alternatives))


def official(key: str, fetches: Sequence[Fetch], *steps: Arrange) -> Source:
    """An official archive set, plus the dataset's CoOp split file when it has one."""
    if key in SPLIT_FILES:
        split_name, drive_id = SPLIT_FILES[key]
        fetches = (*fetches, Fetch("gdrive", f"uc?export=download&id={drive_id}", split_name))
        steps = (*steps, moved(split_name, split_name))
    return Source("official", tuple(fetches), in_order(*steps))


SOURCES: Dict[str, List[Source]] = {
    "caltech101": [
        mirror("caltech-101.zip", "101_ObjectCategories"),
        official("caltech101", [Fetch("caltech", "caltech-101.zip", "caltech-101.zip")],
                 unpacked_inner("101_ObjectCategories.tar.gz"), moved("101_ObjectCategories", "101_ObjectCategories")),
    ],
    "oxford_pets": [
        mirror("oxford_pets.zip", "annotations"),
        official("oxford_pets", [Fetch("vgg", "pets/data/images.tar.gz", "images.tar.gz"),
                                 Fetch("vgg", "pets/data/annotations.tar.gz", "annotations.tar.gz")],
                 moved("images", "images"), moved("annotations", "annotations")),
    ],
    "stanford_cars": [mirror("stanford_cars.zip", "cars_train", folder_holding("cars_test"))],
    "oxford_flowers": [mirror("oxford_flowers.zip", "jpg")],
    "food101": [
        mirror("food101.zip", "images"),
        official("food101", [Fetch("ethz", "food-101.tar.gz", "food-101.tar.gz")], folder_holding("images")),
    ],
    "fgvc_aircraft": [
        mirror("fgvc_aircraft.zip", "variants.txt"),
        official("fgvc_aircraft", [Fetch("vgg", "fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",
                                         "fgvc-aircraft-2013b.tar.gz")], folder_holding("variants.txt")),
    ],
    "sun397": [mirror("sun397.zip", "SUN397")],
    "dtd": [
        mirror("dtd.zip", "images"),
        official("dtd", [Fetch("vgg", "dtd/download/dtd-r1.0.1.tar.gz", "dtd-r1.0.1.tar.gz")], folder_holding("images")),
    ],
    "eurosat": [
        mirror("eurosat.zip", "2750"),
        official("eurosat", [Fetch("zenodo", "EuroSAT_RGB.zip", "EuroSAT_RGB.zip")], moved("EuroSAT_RGB", "2750")),
    ],
    "ucf101": [mirror("ucf101.zip", "UCF-101-midframes")],
    "imagenetv2": [
        mirror("imagenetv2.zip", "imagenetv2-matched-frequency-format-val"),
        official("imagenetv2", [Fetch("imagenetv2", "imagenetv2-matched-frequency.tar.gz",
                                      "imagenetv2-matched-frequency.tar.gz")],
                 moved("imagenetv2-matched-frequency-format-val", "imagenetv2-matched-frequency-format-val")),
    ],
    "imagenet_sketch": [
        mirror("imagenet-sketch.zip", "images", moved("sketch", "images")),
        official("imagenet_sketch", [Fetch("sketch", "ImageNet-Sketch.zip", "ImageNet-Sketch.zip")],
                 moved("sketch", "images")),
    ],
    "imagenet_a": [
        mirror("imagenet-adversarial.zip", "imagenet-a"),
        official("imagenet_a", [Fetch("berkeley", "imagenet-a.tar", "imagenet-a.tar")], moved("imagenet-a", "imagenet-a")),
    ],
    "imagenet_r": [
        mirror("imagenet-rendition.zip", "imagenet-r"),
        official("imagenet_r", [Fetch("berkeley", "imagenet-r.tar", "imagenet-r.tar")], moved("imagenet-r", "imagenet-r")),
    ],
}
FIXUPS = {"stanford_cars": fix_stanford_cars}


def dataset_folder(key: str) -> str:
    import datasets  # noqa: F401  (registers the readers)
    from dassl.data.datasets import DATASET_REGISTRY

    return DATASET_REGISTRY.get(lookup(key).name).dataset_dir


def check_split_json(path: Path) -> None:
    """Google Drive answers some requests with a web page; catch that before it is mistaken for a split."""
    if path.suffix == ".json":
        try:
            json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            raise SourceFailed(f"{path.name} is not JSON (Google Drive may have sent a web page); fetch it by hand")


def fetch_with(source: Source, key: str, root: Path, urls: Mapping[str, str]) -> None:
    """Download a source's files, unpack them, arrange them into ROOT/<folder>, and apply fix-ups."""
    downloads = root / DOWNLOAD_FOLDER
    staging = downloads / f"{key}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    archives, owned = [], []  # owned: ours to delete after unpacking (the hub's cache keeps its files)
    for fetch in source.fetches:
        url = f"{urls[fetch.host]}/{fetch.path}"
        hub = hub_file(url)
        print(f"Downloading {url}" + (" (through the Hugging Face cache)" if hub else ""))
        try:
            archive = download_from_hub(hub) if hub else download(url, downloads / source.kind / fetch.filename)
        except FETCH_ERRORS as err:
            raise SourceFailed(f"{url}: {err}") from err
        archives.append(archive)
        if not hub:
            owned.append(archive)
    for archive in archives:
        check_split_json(archive)
        try:
            unpack(archive, staging)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
            if archive not in owned:
                raise SourceFailed(f"{archive} is damaged ({err}); delete it from the Hugging Face cache "
                                   "(`hf cache delete`) and run again") from err
            archive.unlink()
            raise SourceFailed(f"{archive.name} is damaged ({err}); it was deleted, run again to fetch it anew") from err
    dataset_dir = root / dataset_folder(key)
    source.arrange(staging, dataset_dir)
    if key in FIXUPS:
        FIXUPS[key](dataset_dir)
    shutil.rmtree(staging)
    for archive in owned:
        archive.unlink()


def prepare(key: str, root: Path, urls: Mapping[str, str], kinds: Sequence[str], force: bool = False):
    """Fetch one dataset from the first source that works; return check_data's report."""
    facts = lookup(key)
    report = inspect(str(root), facts)
    if report.status != NOT_READY and not force:
        print(f"{key}: already in place ({report.status}); use --force to fetch it again")
        return report
    failures = []
    for source in (s for s in SOURCES[key] if s.kind in kinds):
        try:
            fetch_with(source, key, root, urls)
        except SourceFailed as err:
            failures.append(f"{source.kind}: {err}")
            print(f"{key}: the {source.kind} source failed ({err}); trying the next one")
            continue
        report = inspect(str(root), facts)
        if report.status != NOT_READY:
            return report
        failures.append(f"{source.kind}: unpacked, but the check failed: {' '.join(report.problems)}")
    report.problems = [f"{facts.name}: no source worked:\n  " + "\n  ".join(failures or ["no source of this kind"])]
    return report


# ----------------------------------------------------------------------------------------------
# ImageNet: instructions, and sorting a flat val folder into class folders
# ----------------------------------------------------------------------------------------------

def imagenet_instructions(root: Path) -> str:
    target = root / "imagenet"
    return f"""ImageNet cannot be downloaded for you: its licence asks each user to sign in at image-net.org.
1. Sign in at https://image-net.org/download-images.php and download, from ILSVRC2012:
     ILSVRC2012_img_train.tar (138 GB), ILSVRC2012_img_val.tar (6.3 GB), ILSVRC2012_devkit_t12.tar.gz (2.5 MB)
2. Unpack them into {target}:
     mkdir -p {target}/images/train {target}/images/val
     tar -xf ILSVRC2012_img_train.tar -C {target}/images/train
     cd {target}/images/train && for f in *.tar; do mkdir "${{f%.tar}}" && tar -xf "$f" -C "${{f%.tar}}" && rm "$f"; done
     tar -xf ILSVRC2012_img_val.tar -C {target}/images/val
3. Sort the flat val images into their 1,000 class folders:
     python tools/download_data.py {root} --names imagenet --repair-val-labels ILSVRC2012_devkit_t12.tar.gz
   (LABELS may also be a text/CSV file with '<image> <wnid>' per line, such as LOC_val_solution.csv).
4. Put CoOp's classnames.txt ('<wnid> <class name>' per line, 1,000 lines) at {target}/classnames.txt;
   the ImageNet-variant archives of the mirror carry a copy, which this tool copies over when it finds one.
Then check with: python tools/check_data.py {root} imagenet"""


WNID = re.compile(r"^n\d{8}$")


def val_labels_from_devkit(devkit: Path) -> Dict[int, str]:
    """Val image number (1..50000) -> wnid, from the devkit's ground truth and meta.mat."""
    from scipy.io import loadmat

    if devkit.is_file():
        staging = devkit.parent / (devkit.name + ".unpacked")
        unpack(devkit, staging)
        devkit = staging
    truth = find_shallowest(devkit, "ILSVRC2012_validation_ground_truth.txt")
    meta = find_shallowest(devkit, "meta.mat")
    synsets = loadmat(str(meta), squeeze_me=True)["synsets"]
    id_to_wnid = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets}
    ids = [int(line) for line in truth.read_text().split()]
    return {number: id_to_wnid[class_id] for number, class_id in enumerate(ids, start=1)}


def val_labels_from_table(path: Path) -> Dict[str, str]:
    """Image stem -> wnid from lines '<image>[,| ]<wnid ...>' (header lines are skipped)."""
    labels = {}
    for line in path.read_text().splitlines():
        fields = re.split(r"[,\s]+", line.strip())
        if len(fields) >= 2 and WNID.match(fields[1]):
            labels[Path(fields[0]).stem] = fields[1]
    if not labels:
        raise CorruptFileError(f"{path}: no '<image> <wnid>' lines found")
    return labels


def repair_imagenet_val(root: Path, labels_path: Path) -> int:
    """Move images/val/*.JPEG into images/val/<wnid>/; return how many were moved."""
    val_dir = root / "imagenet" / "images" / "val"
    if not val_dir.is_dir():
        raise InputFileNotFoundError(f"ImageNet: {val_dir} not found; unpack ILSVRC2012_img_val.tar there first")
    if labels_path.name.startswith("ILSVRC2012_devkit") or labels_path.is_dir():
        by_number = val_labels_from_devkit(labels_path)
        labels = {f"ILSVRC2012_val_{number:08d}": wnid for number, wnid in by_number.items()}
    else:
        labels = val_labels_from_table(labels_path)
    loose = sorted(p for p in val_dir.iterdir() if p.is_file() and p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    unknown = [p.name for p in loose if p.stem not in labels]
    if unknown:
        raise CorruptFileError(f"ImageNet: {len(unknown)} val image(s) have no label in {labels_path} (e.g. {unknown[0]})")
    for image in loose:
        folder = val_dir / labels[image.stem]
        folder.mkdir(exist_ok=True)
        os.replace(image, folder / image.name)
    return len(loose)


def copy_imagenet_classnames(root: Path) -> Optional[Path]:
    """Give imagenet/ the classnames.txt that a downloaded variant folder carries, if it lacks one."""
    target = root / "imagenet" / "classnames.txt"
    if target.exists():
        return None
    for folder in ("imagenetv2", "imagenet-sketch", "imagenet-adversarial", "imagenet-rendition"):
        candidate = root / folder / "classnames.txt"
        if candidate.is_file() and len(candidate.read_text().splitlines()) == 1000:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(candidate, target)
            return target
    return None


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

# ----------------------------------------------------------------------------------------------
# MMA++'s LLM class descriptions (datasets/cupl.py): pinned files, checked by size and SHA256
# ----------------------------------------------------------------------------------------------

def fetch_cupl(root: Path, url_pattern: str = CUPL_URL) -> List[Path]:
    """Fetch every description file into ``root/cupl/`` (kept when already there and intact); a file
    whose size or SHA256 differs from the pinned one is removed and reported."""
    folder = root / CUPL_FOLDER
    fetched = []
    for name, (size, sha256) in CUPL_FILES.items():
        dest = folder / name
        if not (dest.is_file() and file_sha256(dest) == sha256):
            dest.unlink(missing_ok=True)
            download(url_pattern.format(name), dest)
        digest = file_sha256(dest)
        if dest.stat().st_size != size or digest != sha256:
            dest.unlink()
            raise SourceFailed(f"{url_pattern.format(name)}: got SHA256 {digest}, expected the pinned {sha256}; "
                               "the file was removed")
        fetched.append(dest)
    return fetched


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def print_urls(urls: Mapping[str, str]) -> None:
    for key, sources in SOURCES.items():
        for source in sources:
            for fetch in source.fetches:
                print(f"{key:16s} {source.kind:9s} {urls[fetch.host]}/{fetch.path}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", help="the data root (DATASET.ROOT / --root of a run)")
    parser.add_argument("--names", nargs="+", help="datasets (config or DATASET.NAME spelling; default: all but ImageNet)")
    parser.add_argument("--source", choices=("auto", "mirror", "official"), default="auto",
                        help="auto: the Hugging Face mirror first, then the official hosts")
    parser.add_argument("--base", action="append", default=[], metavar="NAME=URL",
                        help=f"replace a host's base URL; NAME is one of {', '.join(BASE_URLS)}")
    parser.add_argument("--force", action="store_true", help="fetch even when a dataset already loads")
    parser.add_argument("--repair-val-labels", type=Path, metavar="LABELS",
                        help="ImageNet: sort images/val into class folders using the devkit or an '<image> <wnid>' file")
    parser.add_argument("--print-urls", action="store_true", help="list every URL this tool may fetch, then stop")
    parser.add_argument("--cupl", action="store_true", help="fetch only MMA++'s LLM class descriptions into ROOT/cupl/")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if args.cupl:
        if args.root is None:
            parser.error("ROOT is required (the data root; the descriptions go to ROOT/cupl/)")
        files = fetch_cupl(Path(args.root).expanduser().resolve())
        print(f"{len(files)} description files in {files[0].parent} (SHA256 checked)")
        return 0
    try:
        urls = base_urls(args.base)
        selected = [lookup(name).key for name in (args.names or [f.key for f in CATALOG if f.key != "imagenet"])]
    except (ValueError, KeyError) as err:
        parser.error(err.args[0])
    if args.print_urls:
        print_urls(urls)
        return 0
    if args.root is None:
        parser.error("ROOT is required (the folder that will hold oxford_pets/, dtd/, ...)")
    root = Path(args.root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)

    kinds = ("mirror", "official") if args.source == "auto" else (args.source,)
    reports = []
    for key in dict.fromkeys(selected):
        if key == "imagenet":
            if args.repair_val_labels is not None:
                moved_count = repair_imagenet_val(root, args.repair_val_labels)
                print(f"Moved {moved_count:,} val images into class folders under {root / 'imagenet' / 'images' / 'val'}")
            copied = copy_imagenet_classnames(root)
            if copied:
                print(f"Copied classnames.txt to {copied}")
            report = inspect(str(root), lookup("imagenet"))
            if report.status == NOT_READY:
                print(imagenet_instructions(root))
            reports.append(report)
            continue
        reports.append(prepare(key, root, urls, kinds, args.force))
    print()
    print(format_table(reports))
    for report in reports:
        for problem in report.problems:
            print(f"\n{problem}")
    return 1 if any(report.status == NOT_READY for report in reports) else 0


if __name__ == "__main__":
    run_cli(main)
