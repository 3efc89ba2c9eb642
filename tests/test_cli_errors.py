"""Deliberate errors print as one block without a traceback and exit 1; --debug / MMA_DEBUG show it."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import clip.weights  # noqa: F401  (defines WeightsNotFoundError, ChecksumError)
import datasets.errors  # noqa: F401
import train
from dassl.utils import errors
from dassl.utils.errors import FrameworkError, error_block, run_cli

REPO_ROOT = Path(__file__).resolve().parents[1]


def all_subclasses(cls):
    found = []
    for sub in cls.__subclasses__():
        found += [sub] + all_subclasses(sub)
    return found


ERROR_CLASSES = all_subclasses(FrameworkError)


def test_every_known_error_class_is_found():
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"DatasetNotFoundError", "MissingImagesError", "WeightsNotFoundError", "ChecksumError",
            "ConfigKeyError", "ConfigOverrideError", "ConfigValueError", "InputFileNotFoundError"} <= names


@pytest.mark.parametrize("error_class", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_each_error_class_prints_one_block_and_exits_1(error_class, capsys, monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["tool.py", "--root", "data"])
    other_bases = [base for base in error_class.__mro__
                   if not issubclass(base, FrameworkError) and base not in (Exception, BaseException, object)]
    assert other_bases, "also derive from the fitting builtin error (ValueError, FileNotFoundError, ...)"

    def main():
        print("progress so far")
        raise error_class("EuroSAT: dataset folder not found: /x/eurosat\nFix: run tools/check_data.py")

    with pytest.raises(SystemExit) as exit_info:
        run_cli(main)
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert out == "progress so far\n"
    assert err == (
        "error: EuroSAT: dataset folder not found: /x/eurosat\nFix: run tools/check_data.py\n"
        f"({error_class.__name__}; run again with --debug or MMA_DEBUG=1 to see the traceback)\n"
    )


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_lets_the_traceback_through(how, monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["train.py", "--debug"] if how == "flag" else ["train.py"])
    if how == "env":
        monkeypatch.setenv(errors.DEBUG_ENV, "1")

    def main():
        raise errors.ConfigValueError("bad value")

    with pytest.raises(errors.ConfigValueError, match="bad value"):
        run_cli(main)


def test_other_errors_keep_their_traceback_and_main_sets_the_status(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["tool.py"])
    with pytest.raises(ZeroDivisionError):
        run_cli(lambda: 1 / 0)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: 3)
    assert exit_info.value.code == 3
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: None)
    assert exit_info.value.code == 0


class _BrokenImages(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, index):
        raise errors.UnreadableFileError(f'Cannot read image "img{index}.jpg"; replace or remove this file')


def test_error_from_a_loader_worker_prints_the_worker_message_only():
    loader = DataLoader(_BrokenImages(), batch_size=1, num_workers=1)
    with pytest.raises(errors.UnreadableFileError) as error_info:
        next(iter(loader))
    assert "Traceback" in str(error_info.value)  # torch puts the worker's traceback in the message
    block = error_block(error_info.value)
    assert block.startswith('error: Cannot read image "img0.jpg"; replace or remove this file\n(')
    assert "Traceback" not in block and "File " not in block


def parse(*argv: str):
    return train.build_parser().parse_args(list(argv))


def test_train_config_errors_are_framework_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("OPTIM:\n  LRR: 0.1\n")
    cases = [
        (parse("--config-file", str(tmp_path / "nope.yaml")), errors.InputFileNotFoundError, "nope.yaml"),
        (parse("--config-file", str(bad)), errors.ConfigKeyError, r"OPTIM\.LRR in .*bad\.yaml \(did you mean OPTIM\.LR\?"),
        (parse("OPTIM.LRR", "1"), errors.ConfigOverrideError, r"OPTIM\.LRR in the command-line opts"),
        (parse("OPTIM.LR", "fast"), errors.ConfigValueError, "must have the default's type"),
        (parse("OPTIM.LR"), errors.ConfigValueError, "odd number"),
    ]
    for args, error_class, message in cases:
        with pytest.raises(error_class, match=message) as error_info:
            train.setup_cfg(args)
        assert "'" != str(error_info.value)[0], "a KeyError message prints unquoted"


def test_a_flag_after_the_overrides_is_explained():
    args = parse("--root", "data", "DATASET.NUM_SHOTS", "16", "--eval-only", "--model-dir", "out")
    assert args.opts == ["DATASET.NUM_SHOTS", "16", "--eval-only", "--model-dir", "out"]  # argparse's REMAINDER
    with pytest.raises(errors.ConfigValueError, match=r"--eval-only comes after the KEY VALUE overrides .* Move "
                                                      r"every --flag \(with its value\) before the first KEY VALUE"):
        train.setup_cfg(args)
    negative = train.setup_cfg(parse("OPTIM.LR", "-0.5", "--debug"))  # values and --debug still pass
    assert negative.OPTIM.LR == -0.5


def test_train_py_missing_data_is_one_block(tmp_path):
    command = [
        sys.executable, str(REPO_ROOT / "train.py"), "--root", str(tmp_path / "nodata"),
        "--trainer", "ZeroshotCLIP", "--dataset-config-file", str(REPO_ROOT / "configs/datasets/eurosat.yaml"),
        "--output-dir", str(tmp_path / "out"), "--no-train", "USE_CUDA", "False",
    ]
    env = {key: value for key, value in os.environ.items() if key != errors.DEBUG_ENV}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: EuroSAT: dataset folder not found: ")
    assert "(DatasetNotFoundError; run again with --debug or MMA_DEBUG=1 to see the traceback)" in done.stderr


def entry_points():
    """Every file of ours that runs as a command: train.py, parse_test_res.py, tools/ and scripts/."""
    candidates = [REPO_ROOT / "train.py", REPO_ROOT / "parse_test_res.py"]
    candidates += sorted((REPO_ROOT / "tools").glob("*.py")) + sorted((REPO_ROOT / "scripts").rglob("*.py"))
    return [path for path in candidates if 'if __name__ == "__main__":' in path.read_text()]


@pytest.mark.parametrize("path", entry_points(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_entry_point_reports_through_run_cli_and_takes_debug(path):
    tree = ast.parse(path.read_text())
    main_block = next(node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))
    calls = [ast.unparse(node.func) for node in ast.walk(main_block) if isinstance(node, ast.Call)]
    assert "run_cli" in calls, f"{path.name}: wrap main in dassl.utils.errors.run_cli"
    assert "add_debug_flag" in path.read_text(), f"{path.name}: give its parser --debug (add_debug_flag)"
