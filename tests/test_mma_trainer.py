"""The MultiModalAdapter trainer end to end on a tiny separable problem: training, checkpoints,
eval-only loading (ours and the reference's format), load errors, and the prediction command."""
import subprocess
import sys
import warnings

import pytest
import torch

from dassl.engine import build_trainer
from dassl.utils import load_checkpoint, set_random_seed
from mma_helpers import CLASSNAMES, mma_trainer_cfg, write_colour_images
from tools.predict import main as predict_main
from tools.predict import predict
from trainers.mmadapter import DERIVED_BUFFERS

EPOCHS = 4


def predict_opts(trained):
    """The shipped config's overrides that describe the trained tiny model."""
    return ["MODEL.BACKBONE.NAME", str(trained["clip"]), "INPUT.SIZE", "(32, 32)", "USE_CUDA", "False",
            "TRAINER.MMADAPTER.ADAPTER_START", "1", "TRAINER.MMADAPTER.ADAPTER_END", "4",
            "TRAINER.MMADAPTER.ADAPTER_SCALE", "0.1"]


def make_trainer(paths, output_dir, opts=()):
    cfg = mma_trainer_cfg(paths["data"], output_dir, paths["clip"], paths["repo"], opts)
    cfg.freeze()
    set_random_seed(cfg.SEED)
    return build_trainer(cfg)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_clip_checkpoint, repo_root):
    """One short training run (PREC amp, as shipped; on CPU it runs in fp32), warnings recorded."""
    root = tmp_path_factory.mktemp("mma_run")
    write_colour_images(root / "data", "train", per_class=4, seed=0)
    write_colour_images(root / "data", "test", per_class=3, seed=1)
    held_out = write_colour_images(root / "held_out", "test", per_class=2, seed=2)
    paths = dict(data=root / "data", clip=tiny_clip_checkpoint, repo=repo_root, held_out=held_out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = make_trainer(paths, root / "run")
        trainer.train()
    paths.update(run=root / "run", trainer=trainer, warnings=[str(w.message) for w in caught])
    return paths


def test_amp_on_cpu_trains_in_fp32_without_warnings(trained):
    trainer = trained["trainer"]
    assert trainer.cfg.TRAINER.MMADAPTER.PREC == "amp"
    assert trainer.precision == "fp32" and trainer.scaler is None
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert not [w for w in trained["warnings"] if "amp" in w.lower() or "autocast" in w.lower()]


def test_schedule_steps_once_per_epoch(trained):
    trainer = trained["trainer"]
    assert trainer.sched.last_epoch == EPOCHS
    assert trainer.get_current_lr() == pytest.approx(0.0, abs=1e-12)


def test_training_learns_the_problem(trained):
    assert trained["trainer"].test() == 100.0


def test_checkpoint_holds_only_adapter_weights(trained):
    checkpoint = load_checkpoint(str(trained["run"] / "adapter_learner" / f"model.pth.tar-{EPOCHS}"))
    learner = trained["trainer"].model.adapter_learner
    assert checkpoint["epoch"] == EPOCHS
    assert not set(DERIVED_BUFFERS) & set(checkpoint["state_dict"])
    assert list(checkpoint["state_dict"]) == [name for name, _ in learner.named_parameters()]
    for name, p in learner.named_parameters():
        assert torch.equal(checkpoint["state_dict"][name], p.detach())


def test_eval_only_reproduces_the_trained_model(trained, tmp_path):
    evaluator = make_trainer(trained, tmp_path / "eval")
    evaluator.load_model(str(trained["run"]), epoch=EPOCHS)
    ours = evaluator.model.adapter_learner.state_dict()
    for name, value in trained["trainer"].model.adapter_learner.state_dict().items():
        assert torch.equal(ours[name], value)
    assert evaluator.test() == 100.0


def test_reference_format_checkpoint_with_buffers_loads(trained, tmp_path):
    """The reference saves token_embedding and tokenized_prompts too (for its own class set)."""
    checkpoint = load_checkpoint(str(trained["run"] / "adapter_learner" / f"model.pth.tar-{EPOCHS}"))
    learner = trained["trainer"].model.adapter_learner
    checkpoint["state_dict"] = {
        "token_embedding": torch.zeros(10, 77, learner.token_embedding.shape[-1]),
        "tokenized_prompts": torch.zeros(10, 77, dtype=torch.long),
        **checkpoint["state_dict"],
    }
    folder = tmp_path / "reference" / "adapter_learner"
    folder.mkdir(parents=True)
    torch.save(checkpoint, folder / "model.pth.tar-5")
    evaluator = make_trainer(trained, tmp_path / "eval")
    evaluator.load_model(str(tmp_path / "reference"), epoch=5)
    assert evaluator.model.adapter_learner.token_embedding.shape[0] == len(CLASSNAMES)
    assert evaluator.test() == 100.0


def test_checkpoint_from_other_layers_is_refused_naming_the_keys(trained, tmp_path):
    evaluator = make_trainer(trained, tmp_path / "eval", ["TRAINER.MMADAPTER.ADAPTER_START", "2"])
    with pytest.raises(ValueError) as excinfo:
        evaluator.load_model(str(trained["run"]), epoch=EPOCHS)
    message = str(excinfo.value)
    assert "unexpected keys: text_adapter.1.down.0.weight" in message
    assert "visual_adapter.1.up.bias" in message and "shared_adapter.1.0.weight" in message
    assert "ADAPTER_START 2" in message and "model.pth.tar-4" in message


def test_checkpoint_with_another_dim_is_refused_naming_the_shapes(trained, tmp_path):
    evaluator = make_trainer(trained, tmp_path / "eval", ["TRAINER.MMADAPTER.ADAPTER_DIM", "8"])
    with pytest.raises(ValueError, match=r"shape mismatches: text_adapter\.1\.down\.0\.weight \(checkpoint \(32, 64\), model \(8, 64\)\)"):
        evaluator.load_model(str(trained["run"]), epoch=EPOCHS)


def test_missing_checkpoint_names_the_path_and_what_exists(trained, tmp_path):
    evaluator = make_trainer(trained, tmp_path / "eval")
    with pytest.raises(FileNotFoundError) as excinfo:
        evaluator.load_model(str(trained["run"]), epoch=7)
    message = str(excinfo.value)
    assert "model.pth.tar-7" in message and f"holds model.pth.tar-{EPOCHS}" in message
    with pytest.raises(FileNotFoundError, match="does not exist: --model-dir must be the output folder"):
        evaluator.load_model(str(tmp_path / "nowhere"))


def test_predict_returns_the_right_class(trained):
    opts = predict_opts(trained)
    classnames = ["blue", "red", "green"]
    images = [str(p) for p in trained["held_out"]]
    results = predict(images, classnames, str(trained["run"]), topk=2, opts=opts)
    assert [ranking[0][0] for ranking in results] == [p.split("/")[-2] for p in images]
    for ranking in results:
        assert len(ranking) == 2 and ranking[0][1] >= ranking[1][1] and 0 < ranking[0][1] <= 1


def test_predict_command_prints_the_top_classes(trained, capsys, repo_root):
    image = str(trained["held_out"][0])
    opts = predict_opts(trained)
    args = ["--model-dir", str(trained["run"]), "--load-epoch", str(EPOCHS), "--classnames", "green", "red",
            "blue", "--images", image, "--topk", "3", "--opts", *opts]
    predict_main(args)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == image
    assert lines[1].startswith("  1. red") and lines[1].endswith("%")
    assert len(lines) == 4
    script = subprocess.run([sys.executable, str(repo_root / "tools" / "predict.py"), *args],
                            capture_output=True, text=True, cwd=repo_root.parent)
    assert script.returncode == 0, script.stderr
    assert script.stdout.splitlines()[:2] == lines[:2]
