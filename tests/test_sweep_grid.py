"""tools/sweep.py's grid against the scripts: the same train.py calls (folders, flags, options).

The scripts run with PYTHON set to a recorder that logs each call, then writes what the next
script checks for (result.json, and a checkpoint for a training run)."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tools.config_tag import ConfigTagError, options_hash
from tools.sweep import main as sweep_main
from tools.sweeping.errors import SweepError
from tools.sweeping.grid import expand
from tools.sweeping.runs import TRAIN_PY
from tools.sweeping.spec import load_spec, parse_spec

REPO_ROOT = Path(__file__).resolve().parents[1]
RECORDER = f"""#!{sys.executable}
import json, os, runpy, sys
if not sys.argv[1].endswith("train.py"):  # the scripts' other Python calls (tools/config_tag.py) run
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
else:
    with open(os.environ["RECORD"], "a") as handle:
        handle.write(json.dumps(sys.argv[1:]) + "\\n")
    outdir = sys.argv[sys.argv.index("--output-dir") + 1]
    os.makedirs(outdir, exist_ok=True)
    if "--eval-only" not in sys.argv:
        os.makedirs(os.path.join(outdir, "model"), exist_ok=True)
        open(os.path.join(outdir, "model", "model.pth.tar-3"), "w").close()
    with open(os.path.join(outdir, "result.json"), "w") as handle:
        json.dump({{"metrics": {{"accuracy": 50.0}}}}, handle, indent=2)
"""


def record_scripts(tmp_path: Path, output: Path, commands: str, extra_opts: str = "DATALOADER.NUM_WORKERS 0",
                   **env_vars) -> list:
    recorder = tmp_path / "recorder.py"
    recorder.write_text(RECORDER)
    recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / f"record_{len(list(tmp_path.glob('record_*')))}.jsonl"
    env = dict(os.environ, PYTHON=str(recorder), RECORD=str(record), DATA="data/", OUTPUT=str(output), QUIET="1",
               EXTRA_OPTS=extra_opts, PYTHONPATH=str(REPO_ROOT), **env_vars)
    done = subprocess.run(["bash", "-c", commands], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def sweep_calls(raw: dict, cpu: bool) -> list:
    runs = expand(parse_spec(dict({"extra_opts": "DATALOADER.NUM_WORKERS 0"}, **raw, data="data/"), "test"),
                  ("USE_CUDA", "False") if cpu else ())
    return [[TRAIN_PY, *run.arguments()] for run in runs]


def test_base2new_and_transfer_equal_run_examples_and_run_xd_dg(tmp_path):
    output = tmp_path / "out"
    scripts = record_scripts(tmp_path, output, """
        for method in mmadapter zsclip coop; do
            for seed in 1 2; do bash scripts/$method/run_examples.sh cpu $seed; done
        done
        for method in mmadapter attnmma; do bash scripts/$method/run_xd_dg.sh cpu 1; done
    """, DATASETS="eurosat imagenet", XD_DATASETS="dtd", DG_DATASETS="imagenet_a")
    base2new = {"protocol": "base2new", "methods": ["mmadapter", "zsclip", "coop"], "datasets": ["eurosat", "imagenet"],
                "seeds": [1, 2], "output": str(output)}
    transfer = {"protocol": "xd", "methods": ["mmadapter", "attnmma"], "datasets": ["dtd", "imagenet_a"],
                "seeds": [1], "output": str(output)}
    ours = sweep_calls(base2new, cpu=True) + sweep_calls(transfer, cpu=True)
    assert sorted(map(json.dumps, ours)) == sorted(map(json.dumps, scripts))
    assert len(ours) == 3 * 2 * 2 * 2 + 2 * 3
    assert any("/dg/test/imagenet_a/" in " ".join(call) for call in ours)
    assert any("vit_b16_ep5_imnet" in " ".join(call) for call in ours)


def test_fewshot_and_studies_equal_the_scripts(tmp_path):
    output = tmp_path / "out"
    scripts = record_scripts(tmp_path, output, """
        for method in coop mmadapter promptsrc; do
            for dataset in eurosat imagenet; do
                for shots in 1 4 16; do bash scripts/$method/fewshot.sh $dataset 1 $shots; done
            done
        done
        STUDY_METHODS="attnmma clip_adapter" LABEL_NOISE_RATES="0.0 0.1" bash scripts/attnmma/run_study.sh label_noise cpu 1
        STUDY_METHODS=mmadapter IMAGE_NOISE_STDS="0.0 0.3" bash scripts/attnmma/run_study.sh image_noise cpu 1
        STUDY_METHODS=mmadapter TYPO_RATES="0.0 0.2" bash scripts/attnmma/run_study.sh text_noise cpu 1
    """, STUDY_DATASETS="eurosat")
    fewshot = {"protocol": "fewshot", "methods": ["coop", "mmadapter", "promptsrc"], "datasets": ["eurosat", "imagenet"],
               "shots": [1, 4, 16], "seeds": [1], "output": str(output)}
    ours = sweep_calls(fewshot, cpu=False)
    assert {call[call.index("--config-file") + 1].rsplit("/", 1)[1] for call in ours if "CoOp" in call} == {
        "vit_b16_ep50.yaml", "vit_b16_ep100.yaml", "vit_b16.yaml"}
    assert {(call[call.index("--dataset-config-file") + 1].rsplit("/", 1)[1], call[call.index("--config-file") + 1]
             .rsplit("/", 1)[1]) for call in ours if "PromptSRC" in call} == {
        ("eurosat.yaml", "vit_b16_c2_ep50_batch4_4+4ctx_few_shot_gpa45.yaml"),
        ("imagenet.yaml", "vit_b16_c2_ep50_batch4_4+4ctx_few_shot.yaml")}
    study = {"protocol": "study", "datasets": ["eurosat"], "seeds": [1], "output": str(output)}
    ours += sweep_calls(dict(study, methods=["attnmma", "clip_adapter"], study="label_noise", settings="0.0 0.1"), cpu=True)
    ours += sweep_calls(dict(study, methods=["mmadapter"], study="image_noise", settings=["0.0", "0.3"]), cpu=True)
    ours += sweep_calls(dict(study, methods=["mmadapter"], study="text_noise", settings="0.0 0.2"), cpu=True)
    assert sorted(map(json.dumps, ours)) == sorted(map(json.dumps, scripts))
    assert any("studies/text_noise/typo_swap_0.2/base2new/train_base" in " ".join(call) for call in ours)


def test_ablation_options_tag_and_backbone_give_the_scripts_folders(tmp_path):
    """Result-changing extra options go to <cfg>_<hash> (or <cfg>_<CONFIG_TAG>), before any @backbone;
    result-neutral ones stay in <cfg>; a study's own setting options change no config folder."""
    output = tmp_path / "out"
    ablation = "DATALOADER.NUM_WORKERS 0 TRAINER.MMADAPTER.SHARED_ADAPTER False"
    scripts = record_scripts(tmp_path, output, "bash scripts/mmadapter/run_examples.sh cpu 1",
                             extra_opts=ablation, DATASETS="eurosat imagenet")
    scripts += record_scripts(tmp_path, output, "bash scripts/coop/run_examples.sh cpu 1", extra_opts=ablation,
                              DATASETS="eurosat", CONFIG_TAG="noshared", BACKBONE="ViT-L-14:datacomp_xl_s13b_b90k")
    scripts += record_scripts(tmp_path, output, "bash scripts/attnmma/study.sh label_noise attnmma eurosat 1",
                              extra_opts=ablation, LABEL_NOISE_RATES="0.1")
    base = {"protocol": "base2new", "seeds": [1], "output": str(output), "extra_opts": ablation}
    ours = sweep_calls(dict(base, methods=["mmadapter"], datasets=["eurosat", "imagenet"]), cpu=True)
    ours += sweep_calls(dict(base, methods=["coop"], datasets=["eurosat"], config_tag="noshared",
                             backbone="ViT-L-14:datacomp_xl_s13b_b90k"), cpu=True)
    ours += sweep_calls(dict(base, protocol="study", study="label_noise", settings="0.1", methods=["attnmma"],
                             datasets=["eurosat"]), cpu=False)
    assert sorted(map(json.dumps, ours)) == sorted(map(json.dumps, scripts))
    folders = {call[call.index("--output-dir") + 1].split("/")[-2] for call in ours}
    digest = options_hash(ablation.split())
    attnmma_digest = options_hash(["TRAINER.ATTNMMA.FEATURE_CACHE_DIR", "x", *ablation.split()])
    assert len(digest) == 8 and digest == attnmma_digest
    assert folders == {f"vit_b16_ep5_{digest}", f"vit_b16_ep5_imnet_{digest}",
                       "vit_b16_ctxv1_noshared@ViT-L-14.datacomp_xl_s13b_b90k", f"vit_b16_coop_{digest}"}


def test_a_tag_reused_for_other_options_is_refused(tmp_path):
    output = tmp_path / "out"
    record_scripts(tmp_path, output, "bash scripts/mmadapter/base2new_train.sh eurosat 1",
                   extra_opts="OPTIM.LR 0.1", CONFIG_TAG="lr")
    folder = output / "base2new/train_base/eurosat/shots_16/MultiModalAdapter/vit_b16_ep5_lr/seed1"
    assert (folder / "config_tag.txt").read_text() == f"tag lr\noptions_hash {options_hash(['OPTIM.LR', '0.1'])}\n" \
                                                      "options OPTIM.LR 0.1\n"
    again = record_scripts(tmp_path, output, "bash scripts/mmadapter/base2new_train.sh eurosat 1",
                           extra_opts="OPTIM.LR 1e-1 TRAIN.PRINT_FREQ 3", CONFIG_TAG="lr")
    assert again == []  # the same options, written otherwise: the finished run is skipped
    recorder = tmp_path / "recorder.py"
    env = dict(os.environ, PYTHON=str(recorder), RECORD=str(tmp_path / "r.jsonl"), DATA="data/", OUTPUT=str(output),
               EXTRA_OPTS="OPTIM.LR 0.2", CONFIG_TAG="lr", PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(["bash", "scripts/mmadapter/base2new_train.sh", "eurosat", "1"], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 1 and "is a run of CONFIG_TAG=lr with other options" in done.stderr
    assert "recorded: OPTIM.LR 0.1" in done.stderr and "now:      OPTIM.LR 0.2" in done.stderr
    spec = {"protocol": "base2new", "methods": ["mmadapter"], "datasets": ["eurosat"], "seeds": [1],
            "output": str(output), "config_tag": "lr"}
    assert len(expand(parse_spec(dict(spec, extra_opts="OPTIM.LR 0.1"), "t"))) == 2
    with pytest.raises(ConfigTagError, match="is a run of CONFIG_TAG=lr with other options"):
        expand(parse_spec(dict(spec, extra_opts="OPTIM.LR 0.2"), "t"))


def test_print_backend_plans_the_last_epoch_and_status_counts(tmp_path, capsys):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"protocol: base2new\nmethods: [mmadapter]\ndatasets: [dtd]\nseeds: [3]\noutput: {tmp_path}/o\n")
    assert sweep_main(["run", str(sweep), "--backend", "print"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("python ") and "--load-epoch 5 " in lines[1]  # vit_b16_ep5
    train_dir = tmp_path / "o/base2new/train_base/dtd/shots_16/MultiModalAdapter/vit_b16_ep5/seed3"
    train_dir.mkdir(parents=True)
    (train_dir / "result.json").write_text('{"metrics": {"accuracy": 1.0}}')
    (train_dir / "sweep_failed.json").write_text("{}")
    assert sweep_main(["status", str(sweep)]) == 0
    report = capsys.readouterr().out
    assert "[####################....................] 1/2 done (50%), 0 running, 0 failed, 1 missing" in report
    assert "mmadapter  dtd         1        0       0        1" in report


@pytest.mark.parametrize("raw, message", [
    ({"protocol": "b2n", "methods": ["mmadapter"]}, "'protocol' must be one of"),
    ({"protocol": "base2new", "methods": ["mma"]}, "unknown method 'mma'"),
    ({"protocol": "base2new", "methods": ["mmadapter"], "datasets": "eurosat cifar"}, "unknown dataset 'cifar'"),
    ({"protocol": "base2new", "methods": [{"name": "coop", "cfg": "vit_b99"}]}, "unknown config 'vit_b99' for CoOp"),
    ({"protocol": "study", "study": "heads", "methods": ["mmadapter"]}, "use the method attnmma"),
    ({"protocol": "base2new", "methods": ["mmadapter"], "seed": [1]}, "unknown key(s) ['seed']"),
])
def test_bad_sweep_files_name_the_problem(raw, message):
    with pytest.raises(SweepError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        expand(parse_spec(raw, "bad"))


def test_ready_made_sweep_files_expand():
    counts = {}
    for path in sorted((REPO_ROOT / "configs" / "sweeps").glob("*.yaml")):
        counts[path.stem] = len(expand(load_spec(str(path))))
    assert counts["mma_base2new"] == counts["mmapp_base2new"] == 11 * 3 * 2
    assert counts["baselines_base2new"] == 8 * 11 * 3 * 2
    assert counts["mma_xd_dg"] == counts["mmapp_xd_dg"] == 3 * (1 + 14) and counts["baselines_xd_dg"] == 8 * 45
    assert counts["baselines_fewshot"] == 9 * 11 * 5 * 3
    assert all(counts.values())
