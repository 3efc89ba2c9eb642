"""No code runs from a data file: a payload planted in every load path never runs, and the reference
Dassl/CoOp file formats (pickled warmup successors, Datum pickles) still load."""
import os
import pickle
from pathlib import Path

import pytest
import torch

import train
from dassl.config import get_cfg_default
from dassl.utils import load_checkpoint, load_pretrained_weights
from dassl.utils.safe_load import TRUST_PICKLES_ENV, DamagedFileError, UnsafeFileError, load_pickle_file
from dassl_helpers import COOP, MODEL_NAME, build, epoch_lrs, reference_datum_pickle, run_train
from datasets.derived_files import DerivedFiles, splits_problem


class Payload:
    """Unpickling this creates ``marker``: the file that must never appear."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def marker(tmp_path):
    path = tmp_path / "PAYLOAD_RAN"
    yield path
    assert not path.exists(), "a planted payload ran"


def plant_in_checkpoint(path: Path, marker: Path) -> None:
    """Add a payload field to an existing, valid torch checkpoint."""
    state = torch.load(path, weights_only=True)
    state["note"] = Payload(marker)
    torch.save(state, path)


@pytest.fixture(scope="module")
def trained(tiny_images_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("safe_trained") / "run"
    run_train(tiny_images_root, out, **{"OPTIM.MAX_EPOCH": 1})
    return out


def test_eval_only_refuses_a_planted_model_checkpoint(trained, tiny_images_root, tmp_path, marker):
    model_dir = tmp_path / "model"
    (model_dir / MODEL_NAME).mkdir(parents=True)
    checkpoint = model_dir / MODEL_NAME / "model.pth.tar-1"
    checkpoint.write_bytes((trained / MODEL_NAME / "model.pth.tar-1").read_bytes())
    plant_in_checkpoint(checkpoint, marker)
    with pytest.raises(UnsafeFileError, match=r"model\.pth\.tar-1.*posix\.system.*MMA_TRUST_PICKLES=1"):
        run_train(tiny_images_root, tmp_path / "eval", "--eval-only", "--model-dir", str(model_dir), "--load-epoch", "1")


def test_automatic_resume_refuses_a_planted_resume_state(trained, tiny_images_root, tmp_path, marker):
    out = tmp_path / "run"
    run_train(tiny_images_root, out, **{"OPTIM.MAX_EPOCH": 1})
    state = {"epoch": 0, "best_result": 0.0, "extra": {}, "models": {}, "rng": Payload(marker)}
    torch.save(state, out / "resume.pth")
    with pytest.raises(UnsafeFileError, match=r"resume\.pth.*posix\.system"):
        run_train(tiny_images_root, out, **{"OPTIM.MAX_EPOCH": 1})


def test_resume_flag_refuses_a_planted_dassl_checkpoint(trained, tiny_images_root, tmp_path, marker):
    resume_dir = tmp_path / "old"
    (resume_dir / MODEL_NAME).mkdir(parents=True)
    checkpoint = resume_dir / MODEL_NAME / "model.pth.tar-1"
    checkpoint.write_bytes((trained / MODEL_NAME / "model.pth.tar-1").read_bytes())
    (resume_dir / MODEL_NAME / "checkpoint").write_text("model.pth.tar-1\n")
    plant_in_checkpoint(checkpoint, marker)
    with pytest.raises(UnsafeFileError, match="posix.system"):
        run_train(tiny_images_root, tmp_path / "new", "--resume", str(resume_dir), **{"OPTIM.MAX_EPOCH": 2})


def test_init_weights_refuses_a_planted_file(trained, marker, tmp_path):
    path = tmp_path / "init.pth"
    path.write_bytes((trained / MODEL_NAME / "model.pth.tar-1").read_bytes())
    plant_in_checkpoint(path, marker)
    with pytest.raises(UnsafeFileError, match=r"init\.pth"):
        load_pretrained_weights(torch.nn.Linear(2, 2), str(path))


def test_learner_checkpoints_of_the_clip_trainers_refuse_a_payload(trained, marker, tmp_path):
    from trainers.kit.checkpoints import load_learners

    (tmp_path / "learner").mkdir()
    path = tmp_path / "learner" / "model.pth.tar-1"
    path.write_bytes((trained / MODEL_NAME / "model.pth.tar-1").read_bytes())
    plant_in_checkpoint(path, marker)

    class Holder:
        _models = {"learner": torch.nn.Linear(2, 2)}

        def get_model_names(self):
            return ["learner"]

    with pytest.raises(UnsafeFileError):
        load_learners(Holder(), str(tmp_path), 1, derived=(), settings="")


@pytest.mark.parametrize("relative", ["split_fewshot/shot_2-seed_1.pkl", "preprocessed.pkl",
                                      "split_fewshot/shot_2-seed_1-stratified.pkl"])
def test_split_caches_refuse_a_payload(tmp_path, marker, relative):
    path = tmp_path / "dataset" / relative
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"train": [Payload(marker)]}))
    files = DerivedFiles("Tiny", str(tmp_path / "dataset"), str(tmp_path / "out"))
    with pytest.raises(UnsafeFileError, match=r"posix\.system.*delete it if it is a cache"):
        files.load_pickle(relative, lambda obj: splits_problem(obj, ("train",)))


def test_reference_datum_pickle_still_loads_through_the_restricted_unpickler(tmp_path):
    image = tmp_path / "dataset" / "img.png"
    image.parent.mkdir()
    from PIL import Image

    Image.new("RGB", (4, 4)).save(image)
    relative = "split_fewshot/shot_1-seed_1.pkl"
    (tmp_path / "dataset" / "split_fewshot").mkdir()
    (tmp_path / "dataset" / relative).write_bytes(reference_datum_pickle(str(image), 3, "cat"))
    files = DerivedFiles("Tiny", str(tmp_path / "dataset"), str(tmp_path / "out"))
    data, _ = files.load_pickle(relative, lambda obj: splits_problem(obj, ("train",)))
    (datum,) = data["train"]
    assert (datum.impath, datum.label, datum.classname) == (str(image), 3, "cat")
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps({"train": [datum], "val": (datum,)}, protocol=protocol))
        again = load_pickle_file(str(path))
        assert again["train"][0].__dict__ == datum.__dict__


def test_a_payload_inside_a_reference_warmup_successor_is_refused(tmp_path, marker):
    """The reference format itself loads (test_dassl_optim); an extra object hidden in it does not."""
    _, optimizer, scheduler = build(COOP)
    epoch_lrs(optimizer, scheduler, 2)
    old_style = {k: v for k, v in scheduler.__dict__.items() if k != "optimizer"}
    path = tmp_path / "model.pth.tar-2"
    old_style["successor"].payload = Payload(marker)
    torch.save({"scheduler": old_style}, path)
    with pytest.raises(UnsafeFileError, match="posix.system"):
        load_checkpoint(str(path))


def test_torch_caches_of_the_trainers_ignore_a_payload(tmp_path, marker):
    from trainers.kit.feature_cache import EmbeddingStore
    from trainers.kit.init_replay import InitReplay

    torch.save({"x": Payload(marker)}, tmp_path / "k.pt")
    assert InitReplay(tmp_path).recorded("k") is None
    assert EmbeddingStore(str(tmp_path)).load("k", 3) is None


def test_clip_weights_refuse_a_payload(tmp_path, marker):
    from clip.weights import read_state_dict

    torch.save({"text_projection": Payload(marker)}, tmp_path / "ViT-B-16.pt")
    with pytest.raises(Exception, match=r"ViT-B-16\.pt"):
        read_state_dict(tmp_path / "ViT-B-16.pt")


def test_python_config_is_refused_unless_trusted(tmp_path, marker, monkeypatch):
    config = tmp_path / "evil.py"
    config.write_text(f"import os\nos.system('touch {marker}')\nfrom yacs.config import CfgNode\ncfg = CfgNode()\n")
    with pytest.raises(ValueError, match=r"evil\.py.*MMA_TRUST_PY_CONFIG=1"):
        train.main(train.build_parser().parse_args(["--config-file", str(config), "--output-dir", str(tmp_path / "o")]))
    with pytest.raises(ValueError, match="evil.py"):
        get_cfg_default().merge_from_file(str(config))
    assert not (tmp_path / "o").exists()


def test_full_unpickling_only_with_the_documented_switch(tmp_path, monkeypatch):
    path = tmp_path / "trusted.pth"
    torch.save({"odd": complex(1, 2), "cls": Path("x")}, path)
    with pytest.raises(UnsafeFileError, match="PosixPath"):
        load_checkpoint(str(path))
    monkeypatch.setenv(TRUST_PICKLES_ENV, "1")
    with pytest.warns(UserWarning, match="MMA_TRUST_PICKLES is set: loading .*trusted.pth with full unpickling"):
        assert load_checkpoint(str(path))["cls"] == Path("x")


@pytest.mark.parametrize("damage", ["empty", "truncated", "text"])
def test_damaged_checkpoints_are_explained(trained, tmp_path, damage):
    original = (trained / MODEL_NAME / "model.pth.tar-1").read_bytes()
    content = {"empty": b"", "truncated": original[: len(original) // 2], "text": b"not a checkpoint\n"}[damage]
    path = tmp_path / "model.pth.tar-1"
    path.write_bytes(content)
    with pytest.raises(DamagedFileError, match=r'Cannot load checkpoint ".*model\.pth\.tar-1": it (is empty|is truncated)'):
        load_checkpoint(str(path))
