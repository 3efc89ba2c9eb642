"""One output folder, one run: the run record, the identity check, --overwrite, the lock, eval-only."""
import json
import multiprocessing
import os
import socket
import subprocess
import sys

import pytest

import train
from dassl.config import get_cfg_default
from dassl.engine.output_folder import remove_leftover_temporaries
from dassl.engine.run_lock import LOCK_FILE, OutputFolderLockedError, RunLock
from dassl.engine.run_record import RunMismatchError, flatten_config
from dassl.utils import read_json
from dassl.utils.code_version import code_version
from dassl_helpers import MODEL_NAME, folder_digest, run_train, tiny_opts


@pytest.fixture(scope="module")
def finished_run(tiny_images_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "seed1"
    argv = run_train(tiny_images_root, out)
    return out, argv


def test_run_record_holds_config_command_identity_and_split(finished_run):
    out, argv = finished_run
    record = read_json(str(out / "run.json"))
    assert record["command"] == ["train.py", *argv]
    assert record["overrides"] == tiny_opts()
    assert record["code_version"] == code_version()
    identity = record["identity"]
    assert identity["mode"] == "train" and identity["SEED"] == 1 and identity["OPTIM.MAX_EPOCH"] == 2
    assert identity["INPUT.SIZE"] == [8, 8]
    for neutral in ("DATALOADER.NUM_WORKERS", "TRAIN.PRINT_FREQ", "OUTPUT_DIR", "DATASET.ROOT", "VERBOSE"):
        assert neutral not in identity
    assert len(record["split_fingerprint"]) == 64
    # config.yaml is the merged config: merged back into the defaults it gives the same leaves
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    cfg.merge_from_file(str(out / "config.yaml"))
    assert cfg.SEED == 1 and cfg.OUTPUT_DIR == str(out) and tuple(cfg.INPUT.SIZE) == (8, 8)
    assert {k: v for k, v in flatten_config(cfg).items() if k in identity} == {
        k: v for k, v in identity.items() if k != "mode"
    }
    assert not (out / LOCK_FILE).exists(), "the lock is released when the run ends"


def test_same_command_resumes_and_result_neutral_changes_are_accepted(finished_run, tiny_images_root):
    out, _ = finished_run
    before = read_json(str(out / "run.json"))
    run_train(tiny_images_root, out, **{"TRAIN.PRINT_FREQ": 1, "DATALOADER.PERSISTENT_WORKERS": True})
    assert read_json(str(out / "run.json")) == before
    assert (out / "result.json").exists()


@pytest.mark.parametrize(
    "flags, opts, differing",
    [
        ((), {"OPTIM.MAX_EPOCH": 3}, "OPTIM.MAX_EPOCH: 2 -> 3"),
        (("--seed", "2"), {}, "SEED: 1 -> 2"),
    ],
)
def test_changed_command_is_refused_and_folder_untouched(finished_run, tiny_images_root, flags, opts, differing):
    out, _ = finished_run
    before = folder_digest(out)
    seed = int(flags[1]) if flags else 1
    with pytest.raises(RunMismatchError) as info:
        run_train(tiny_images_root, out, seed=seed, **opts)
    message = str(info.value)
    assert differing in message and "--output-dir" in message and "--overwrite" in message
    assert folder_digest(out) == before


def test_overwrite_archives_the_old_run(tiny_images_root, tmp_path):
    out = tmp_path / "seed1"
    run_train(tiny_images_root, out, **{"OPTIM.MAX_EPOCH": 1})
    old_result = (out / "result.json").read_bytes()
    run_train(tiny_images_root, out, "--overwrite", **{"OPTIM.MAX_EPOCH": 2})
    archived = [p for p in tmp_path.iterdir() if p.name.startswith("seed1.archived-")]
    assert len(archived) == 1
    assert (archived[0] / "result.json").read_bytes() == old_result
    assert read_json(str(archived[0] / "run.json"))["identity"]["OPTIM.MAX_EPOCH"] == 1
    assert read_json(str(out / "run.json"))["identity"]["OPTIM.MAX_EPOCH"] == 2
    assert (out / MODEL_NAME / "model.pth.tar-2").exists() and not (out / MODEL_NAME / "model.pth.tar-1").exists()


def test_eval_only_into_a_training_folder_writes_its_own_files(finished_run, tiny_images_root):
    out, _ = finished_run
    before = folder_digest(out)
    run_train(tiny_images_root, out, "--eval-only", "--model-dir", str(out), "--load-epoch", "2")
    after = folder_digest(out)
    evaluation = out / "eval_all_test_ep2"
    assert {k: v for k, v in after.items() if not k.startswith("eval_all_test_ep2")} == before
    result = read_json(str(evaluation / "result.json"))
    assert result["metrics"]["accuracy"] == read_json(str(out / "result.json"))["metrics"]["accuracy"]
    assert read_json(str(evaluation / "run.json"))["identity"]["mode"] == "eval"


def _try_lock(folder: str, answers) -> None:
    try:
        RunLock(folder).acquire()
    except OutputFolderLockedError as e:
        answers.put(str(e))
    else:
        answers.put("acquired")


def test_a_live_holder_stops_a_second_process(tmp_path):
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    with RunLock(str(tmp_path)):
        second = context.Process(target=_try_lock, args=(str(tmp_path), answers))
        second.start()
        second.join(60)
        message = answers.get(timeout=5)
    assert f"process {os.getpid()} on host {socket.gethostname()}" in message and "--output-dir" in message
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_stale_lock_is_taken_over_with_a_note(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "since": "x"}))
    lock = RunLock(str(tmp_path))
    lock.acquire()
    assert f"took over the stale lock {tmp_path / LOCK_FILE} of process {dead.pid}" in capsys.readouterr().out
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()


def test_a_lock_of_another_host_is_refused(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": 1234, "host": "elsewhere", "since": "x"}))
    with pytest.raises(OutputFolderLockedError, match=r"process 1234 on host elsewhere.*delete"):
        RunLock(str(tmp_path)).acquire()


def test_leftover_temporaries_are_removed(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / ".model.pth.tar-1.99.abcd1234.tmp").write_bytes(b"half")
    (tmp_path / ".resume.pth.7.beef.tmp").write_bytes(b"half")
    (tmp_path / "keep.tmp.txt").write_text("mine")
    assert remove_leftover_temporaries(str(tmp_path)) == 2
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["keep.tmp.txt"]


def test_a_changed_split_is_refused(finished_run, tiny_images_root, tmp_path):
    out = tmp_path / "seed1"
    run_train(tiny_images_root, out, **{"OPTIM.MAX_EPOCH": 1})
    record = read_json(str(out / "run.json"))
    record["split_fingerprint"] = "0" * 64
    (out / "run.json").write_text(json.dumps(record))
    with pytest.raises(RunMismatchError, match="data split differs"):
        run_train(tiny_images_root, out, **{"OPTIM.MAX_EPOCH": 1})
