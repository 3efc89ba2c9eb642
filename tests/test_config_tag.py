"""tools/config_tag.py: which extra options move a run to its own config folder, the folder's name,
the record of a user's tag, and tools/report.py keeping those folders apart."""
import hashlib
import json
import subprocess
import sys

import pytest

from tools.config_tag import (
    ConfigTagError,
    check_tag_record,
    config_folder,
    options_hash,
    read_tag_record,
    write_tag_record,
)
from tools.reporting import build_tables

ABLATION = ["TRAINER.MMADAPTER.SHARED_ADAPTER", "False"]


def test_only_result_changing_options_name_a_folder():
    assert config_folder("vit_b16_ep5", ["DATALOADER.NUM_WORKERS", "8", "USE_CUDA", "False"]) == "vit_b16_ep5"
    expected = hashlib.sha256(json.dumps([["TRAINER.MMADAPTER.SHARED_ADAPTER", "False"]]).encode()).hexdigest()[:8]
    assert config_folder("vit_b16_ep5", ["DATALOADER.NUM_WORKERS", "8", *ABLATION]) == f"vit_b16_ep5_{expected}"
    assert options_hash(["OPTIM.LR", "0.0010"]) == options_hash(["OPTIM.LR", "1e-3"])  # one value, as the config reads it
    assert options_hash(["OPTIM.LR", "0.1", "OPTIM.LR", "0.2"]) == options_hash(["OPTIM.LR", "0.2"])  # last one wins
    assert options_hash(["OPTIM.LR", "0.1", *ABLATION]) == options_hash([*ABLATION, "OPTIM.LR", "0.1"])
    assert options_hash(["OPTIM.LR", "0.1"]) != options_hash(["OPTIM.LR", "0.2"])
    assert config_folder("vit_b16_ep5", ABLATION, "no_shared") == "vit_b16_ep5_no_shared"
    assert config_folder("vit_b16_ep5", [], "smoke") == "vit_b16_ep5_smoke"


@pytest.mark.parametrize("opts, tag, message", [
    (["OPTIM.LR"], "", "extra options must be KEY VALUE pairs; got an odd number of words: OPTIM.LR"),
    (ABLATION, "a/b", "CONFIG_TAG 'a/b' cannot name a folder"),
    (ABLATION, "x@y", "CONFIG_TAG 'x@y' cannot name a folder"),
    (ABLATION, "_x", "CONFIG_TAG '_x' cannot name a folder"),
])
def test_bad_options_and_tags_are_refused(opts, tag, message):
    with pytest.raises(ConfigTagError, match=message.replace("(", r"\(")):
        config_folder("vit_b16_ep5", opts, tag)


def test_the_record_of_a_tag_refuses_other_options(tmp_path):
    folder = tmp_path / "vit_b16_ep5_abl" / "seed1"
    check_tag_record(str(folder), "abl", ABLATION)  # no record yet: nothing to compare
    write_tag_record(str(folder), "abl", ["DATALOADER.NUM_WORKERS", "4", *ABLATION])
    assert read_tag_record(str(folder)) == {"tag": "abl", "options_hash": options_hash(ABLATION),
                                            "options": "DATALOADER.NUM_WORKERS 4 " + " ".join(ABLATION)}
    check_tag_record(str(folder), "abl", [*ABLATION, "TRAIN.PRINT_FREQ", "5"])
    with pytest.raises(ConfigTagError, match="is a run of CONFIG_TAG=abl with other options") as caught:
        check_tag_record(str(folder), "abl", [*ABLATION, "OPTIM.LR", "0.1"])
    assert "recorded: DATALOADER.NUM_WORKERS 4 TRAINER.MMADAPTER.SHARED_ADAPTER False" in str(caught.value)
    assert "now:      TRAINER.MMADAPTER.SHARED_ADAPTER False OPTIM.LR 0.1" in str(caught.value)


def test_the_command_line_prints_the_hash_without_loading_torch(repo_root):
    probe = ("import runpy, sys; sys.argv = ['config_tag.py', *sys.argv[1:]]\n"
             "try:\n    runpy.run_path('tools/config_tag.py', run_name='__main__')\n"
             "except SystemExit:\n    pass\nprint('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, *ABLATION], capture_output=True, text=True, cwd=repo_root)
    assert done.stdout.split() == [options_hash(ABLATION), "False"], done.stderr
    neutral = subprocess.run([sys.executable, "tools/config_tag.py", "DATALOADER.NUM_WORKERS", "8"],
                             capture_output=True, text=True, cwd=repo_root)
    assert (neutral.returncode, neutral.stdout) == (0, "\n")
    odd = subprocess.run([sys.executable, "tools/config_tag.py", "OPTIM.LR"], capture_output=True, text=True,
                         cwd=repo_root)
    assert odd.returncode == 1 and odd.stderr.startswith("error: extra options must be KEY VALUE pairs")


def test_report_shows_an_ablation_as_its_own_config(tmp_path):
    digest = options_hash(ABLATION)
    for cfg, accuracy in (("vit_b16_ep5", 80.0), (f"vit_b16_ep5_{digest}", 70.0), ("vit_b16_ep5_imnet", 60.0),
                          (f"vit_b16_ep5_imnet_{digest}", 50.0)):
        dataset = "imagenet" if "imnet" in cfg else "eurosat"
        for phase in ("train_base", "test_new"):
            folder = tmp_path / "base2new" / phase / dataset / "shots_16" / "MultiModalAdapter" / cfg / "seed1"
            folder.mkdir(parents=True)
            (folder / "result.json").write_text(json.dumps({"metrics": {"accuracy": accuracy}}))
    table = build_tables(str(tmp_path))[0]
    default, ablation = table.methods
    assert (default.label, ablation.label) == ("MMA (vit_b16_ep5)", f"MMA (vit_b16_ep5_{digest})")
    means = {(key, method.cfg): table.cell(table.row(key), method, "base").mean
             for key in ("eurosat", "imagenet") for method in table.methods}
    assert means == {("eurosat", "vit_b16_ep5"): 80.0, ("eurosat", f"vit_b16_ep5_{digest}"): 70.0,
                     ("imagenet", "vit_b16_ep5"): 60.0, ("imagenet", f"vit_b16_ep5_{digest}"): 50.0}
