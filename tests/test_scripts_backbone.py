"""BACKBONE in the run scripts: the train.py arguments it adds and the <cfg> folder level that keeps
runs on different backbones apart, down to tools/report.py's tables."""
import json
import subprocess
from pathlib import Path

from tools.reporting import build_tables, find_runs


def lib_sh(repo_root: Path, backbone: str, commands: str) -> str:
    script = (f'TRAINER=MultiModalAdapter DEFAULT_CFG=vit_b16_ep5 OUTPUT=out BACKBONE="{backbone}"\n'
              f'source "{repo_root}/scripts/lib.sh"\n{commands}')
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout


def test_backbone_sets_the_arguments_and_the_cfg_folder(repo_root):
    commands = 'run_dir base2new train_base eurosat 16 vit_b16_ep5 1; backbone_args; echo "${BACKBONE_ARGS[@]}"'
    assert lib_sh(repo_root, "ViT-L-14:datacomp_xl_s13b_b90k", commands).splitlines() == [
        "out/base2new/train_base/eurosat/shots_16/MultiModalAdapter/vit_b16_ep5@ViT-L-14.datacomp_xl_s13b_b90k/seed1",
        "--backbone ViT-L-14 MODEL.BACKBONE.PRETRAINED datacomp_xl_s13b_b90k"]
    assert lib_sh(repo_root, "ViT-B/32", commands).splitlines() == [
        "out/base2new/train_base/eurosat/shots_16/MultiModalAdapter/vit_b16_ep5@ViT-B-32/seed1", "--backbone ViT-B/32"]
    assert lib_sh(repo_root, "", commands).splitlines() == [
        "out/base2new/train_base/eurosat/shots_16/MultiModalAdapter/vit_b16_ep5/seed1", ""]


def test_report_keeps_backbones_apart(tmp_path):
    for cfg, accuracy in (("vit_b16_ep5", 80.0), ("vit_b16_ep5@ViT-L-14.datacomp_xl_s13b_b90k", 90.0)):
        folder = tmp_path / "base2new" / "train_base" / "eurosat" / "shots_16" / "MultiModalAdapter" / cfg / "seed1"
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps({"metrics": {"accuracy": accuracy}}))
    runs = find_runs(str(tmp_path))
    assert sorted((run.cfg, run.accuracy) for run in runs) == [
        ("vit_b16_ep5", 80.0), ("vit_b16_ep5@ViT-L-14.datacomp_xl_s13b_b90k", 90.0)]
    table = build_tables(str(tmp_path))[0]
    assert [m.label for m in table.methods] == ["MMA (vit_b16_ep5)", "MMA (vit_b16_ep5@ViT-L-14.datacomp_xl_s13b_b90k)"]
