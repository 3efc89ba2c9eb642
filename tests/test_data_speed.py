"""The data-side speed switches (docs/SPEED.md): decoded-image caches give the very batches the
files give (training augmentation included, with and without workers), are filled only when a pass
starts, are shared inside a shared_decoded_images() block; loader options; the GPU decoder's
pipeline (run on the CPU here) against PIL's, and its errors."""
import numpy as np
import pytest
import torch
from PIL import Image

from dassl.config import get_cfg_default
from dassl.data import build_data_loader
from dassl.data.datasets import Datum
from dassl.data.decoded_images import DecodedImages, shared_decoded_images, split_deterministic_head
from dassl.data.gpu_decode import BatchDecoder, check_gpu_decode, collate_encoded, EncodedImages
from dassl.data.transforms import build_transform
from dassl.utils import set_random_seed

SIZE = 24


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six textured 40x30 JPEGs and one PNG, labels 0..2."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    items = []
    for i in range(7):
        pixels = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
        path = root / (f"{i}.png" if i == 6 else f"{i}.jpg")
        Image.fromarray(pixels).save(path)
        items.append(Datum(impath=str(path), label=i % 3, classname=f"c{i % 3}"))
    return items


def loader_cfg(*opts):
    cfg = get_cfg_default()
    cfg.merge_from_list([
        "INPUT.SIZE", f"({SIZE}, {SIZE})", "INPUT.INTERPOLATION", "bicubic",
        "INPUT.TRANSFORMS", "['random_resized_crop', 'random_flip', 'normalize']",
        "INPUT.PIXEL_MEAN", "[0.48145466, 0.4578275, 0.40821073]",
        "INPUT.PIXEL_STD", "[0.26862954, 0.26130258, 0.27577711]",
        "USE_CUDA", "False", "DATALOADER.NUM_WORKERS", "0", *opts,
    ])
    return cfg


def train_batches(photos, *opts, epochs=2, seed=3):
    cfg = loader_cfg(*opts)
    loader = build_data_loader(cfg, "RandomSampler", photos, batch_size=3, tfm=build_transform(cfg, is_train=True))
    set_random_seed(seed)
    return [(batch["img"], batch["label"]) for _ in range(epochs) for batch in loader]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_cached_training_batches_equal_the_decoded_files(photos, workers):
    plain = train_batches(photos, "DATALOADER.CACHE_DECODED", "False", "DATALOADER.NUM_WORKERS", workers)
    cached = train_batches(photos, "DATALOADER.CACHE_DECODED", "True", "DATALOADER.NUM_WORKERS", workers)
    assert len(plain) == len(cached) == 4
    for (img_plain, label_plain), (img_cached, label_cached) in zip(plain, cached):
        assert torch.equal(img_plain, img_cached) and torch.equal(label_plain, label_cached)
    other_seed = train_batches(photos, "DATALOADER.NUM_WORKERS", workers, seed=4)
    assert not torch.equal(other_seed[0][0], cached[0][0])


def eval_images(photos, *opts):
    cfg = loader_cfg(*opts)
    loader = build_data_loader(cfg, "SequentialSampler", photos, batch_size=4, tfm=build_transform(cfg, is_train=False),
                               is_train=False)
    return loader, torch.cat([batch["img"] for batch in loader])


def test_the_evaluation_cache_keeps_resized_crops_and_changes_nothing(photos, capsys):
    _, plain = eval_images(photos)
    loader, cached = eval_images(photos, "DATALOADER.TEST.CACHE_DECODED", "True")
    assert torch.equal(plain, cached)
    store = loader.dataset.decoded
    assert len(store) == len(photos) and store.image(photos[0].impath).size == (SIZE, SIZE)
    assert [type(step).__name__ for step in loader.dataset.transform.transforms] == ["ToTensor", "Normalize"]
    assert "Decoded 7 evaluation images into memory" in capsys.readouterr().out


def test_a_store_is_filled_when_a_pass_starts_and_shared_inside_the_block(photos):
    cfg = loader_cfg()
    tfm = build_transform(cfg, is_train=True)
    loader = build_data_loader(cfg, "RandomSampler", photos, batch_size=3, tfm=tfm)
    assert len(loader.dataset.decoded) == 0
    next(iter(loader))
    assert len(loader.dataset.decoded) == len(photos)
    with shared_decoded_images():
        first = build_data_loader(cfg, "RandomSampler", photos[:4], batch_size=3, tfm=tfm)
        second = build_data_loader(cfg, "RandomSampler", photos, batch_size=3, tfm=tfm)
        assert first.dataset.decoded is second.dataset.decoded
        next(iter(first))
        assert second.dataset.decoded.add(p.impath for p in photos) == 3
    after = build_data_loader(cfg, "RandomSampler", photos, batch_size=3, tfm=tfm)
    assert after.dataset.decoded is not first.dataset.decoded and len(after.dataset.decoded) == 0


def test_the_kept_image_is_the_decoded_file(photos):
    store = DecodedImages()
    store.add([photos[0].impath])
    original = Image.open(photos[0].impath).convert("RGB")
    assert np.array_equal(np.asarray(store.image(photos[0].impath)), np.asarray(original))
    assert store.nbytes == 30 * 40 * 3
    head, rest = split_deterministic_head(build_transform(loader_cfg(), is_train=True))
    assert head is None and len(rest.transforms) == 4


@pytest.mark.parametrize("persistent, workers, expected", [("True", "2", True), ("True", "0", False), ("False", "2", False)])
def test_persistent_workers_only_with_workers(photos, persistent, workers, expected):
    cfg = loader_cfg("DATALOADER.PERSISTENT_WORKERS", persistent, "DATALOADER.NUM_WORKERS", workers)
    loader = build_data_loader(cfg, "RandomSampler", photos, batch_size=3, tfm=build_transform(cfg, is_train=True))
    assert loader.persistent_workers is expected


def test_gpu_decoding_needs_cuda(photos):
    cfg = loader_cfg("DATALOADER.TEST.GPU_DECODE", "True")
    with pytest.raises(ValueError, match="DATALOADER.TEST.GPU_DECODE is set, but this run has no CUDA device"):
        build_data_loader(cfg, "SequentialSampler", photos, batch_size=4, is_train=False)
    cfg = loader_cfg("INPUT.TRANSFORMS", "['normalize', 'instance_norm']")
    with pytest.raises(ValueError, match="only the standard test pipeline"):
        check_gpu_decode(cfg, torch.device("cuda"))


def test_the_device_decoder_is_close_to_pil(photos):
    """The decoder's resize/crop/normalise, run on the CPU (libjpeg, as PIL): every pixel within one
    uint8 level of PIL's pipeline (0.015 after normalisation). nvJPEG on a GPU differs more."""
    cfg = loader_cfg("INPUT.TRANSFORMS", "['normalize']")
    batch = collate_encoded([EncodedImages(photos)[i] for i in range(len(photos))])
    decoded = BatchDecoder(cfg, torch.device("cpu"))(batch["encoded"])
    _, reference = eval_images(photos)
    assert decoded.shape == reference.shape == (7, 3, SIZE, SIZE)
    assert torch.equal(batch["label"], torch.tensor([p.label for p in photos]))
    one_level = 1 / 255 / min(cfg.INPUT.PIXEL_STD)
    assert (decoded - reference).abs().max() <= one_level * 1.001
    assert (decoded - reference).abs().mean() < 1e-3


def test_torchvision_without_batched_decoding_gives_the_same_batch(photos, monkeypatch):
    import dassl.data.gpu_decode as gpu_decode

    cfg = loader_cfg("INPUT.TRANSFORMS", "['normalize']")
    batch = collate_encoded([EncodedImages(photos)[i] for i in range(len(photos))])
    batched = BatchDecoder(cfg, torch.device("cpu"))(batch["encoded"])
    monkeypatch.setattr(gpu_decode, "BATCHED_DECODE", False)
    assert torch.equal(BatchDecoder(cfg, torch.device("cpu"))(batch["encoded"]), batched)


def test_the_decoding_loader_yields_decoded_batches(photos):
    from torch.utils.data import DataLoader

    from dassl.data.gpu_decode import DecodingLoader

    cfg = loader_cfg("INPUT.TRANSFORMS", "['normalize']")
    decoder = BatchDecoder(cfg, torch.device("cpu"))
    loader = DecodingLoader(DataLoader(EncodedImages(photos), batch_size=4, collate_fn=collate_encoded), decoder)
    batches = list(loader)
    assert len(loader) == len(batches) == 2 and len(loader.dataset) == 7
    assert "encoded" not in batches[0] and batches[0]["img"].shape == (4, 3, SIZE, SIZE)
    _, reference = eval_images(photos)
    assert (torch.cat([b["img"] for b in batches]) - reference).abs().max() < 0.016
