"""tools/bench.py: workload names, each method's defaults, and every trainer it names taking a step
(on a tiny random CLIP, so that the whole file runs in seconds)."""
import re

import pytest

import train
import tools.bench as bench
from dassl.config import get_cfg_default

TINY_CLIP = dict(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=64, vision_patch_size=16,
                 context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=2,
                 transformer_layers=2)
# The training batch of each method's config: train_cfg_c<N> must use it.
CONFIG_BATCH = {"coop": 32, "cocoop": 1, "clip_adapter": 32, "kgcoop": 128, "attnmma": 256}


def test_workload_names_give_the_batch_and_classes_and_bad_ones_are_refused():
    assert bench.parse_workload("train_b128_c500") == bench.Workload("train_b128_c500", "train", 128, 500)
    assert bench.parse_workload("train_cfg_c1000") == bench.Workload("train_cfg_c1000", "train", None, 1000)
    assert bench.parse_workload("eval_autocast").kind == "eval"
    for name in ("train_b0_c5", "train_c5", "train_b16_c50x", "eval_bf16"):
        with pytest.raises(ValueError, match="train_cfg_c<classes>"):
            bench.parse_workload(name)
    with pytest.raises(SystemExit):
        bench.build_parser().parse_args(["--workloads", "train_b16"])


def test_bench_on_cpu_fills_only_the_left_out_options_with_the_methods_sizes():
    mma = bench.METHODS["mma"]
    args = bench.build_parser().parse_args(["--device", "cpu", "--steps", "4"])
    assert bench.fill_device_defaults(args, mma) == ["warmup", "eval_batch", "workloads"]
    assert (args.steps, args.warmup, args.eval_batch) == (4, 1, 8)
    assert args.workloads == ["train_b16_c50", "eval_fp32"]
    args = bench.build_parser().parse_args(["--device", "cuda"])
    assert bench.fill_device_defaults(args, mma) == ["steps", "warmup", "eval_batch", "workloads"]
    assert (args.steps, args.warmup, args.eval_batch) == (20, 5, 100)
    assert args.workloads == ["train_b16_c50", "train_b16_c200", "train_b128_c500", "train_b128_c1000",
                              "eval_fp32", "eval_autocast"]
    args = bench.build_parser().parse_args(["--device", "cuda", "--method", "cocoop"])
    bench.fill_device_defaults(args, bench.METHODS["cocoop"])
    assert args.workloads == ["train_cfg_c50", "train_cfg_c200", "train_cfg_c500", "train_cfg_c1000", "eval_fp32"]


@pytest.mark.parametrize("name", sorted(bench.METHODS))
def test_a_method_has_the_speed_switches_exactly_when_its_config_has_eval_prec(name):
    method = bench.METHODS[name]
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    cfg.merge_from_file(method.config_file)
    assert ("EVAL_PREC" in cfg.TRAINER[method.node]) == method.speed_keys


def table_rows(out: str):
    """The table's rows by workload: name, batch, ms, img/s, peak MiB."""
    rows = re.findall(r"^((?:train|eval)_\S+)((?:\s+[0-9.]+){4})$", out, re.M)
    return {name: [name, *cells.split()] for name, cells in rows}


@pytest.mark.parametrize("method", sorted(CONFIG_BATCH))
def test_bench_builds_the_method_takes_a_step_and_prints_the_memory_of_a_run(method, monkeypatch, capsys):
    monkeypatch.setattr(bench, "VIT_B16", TINY_CLIP)
    bench.main(["--method", method, "--device", "cpu", "--steps", "1", "--warmup", "0", "--eval-batch", "2",
                "--workloads", "train_cfg_c3", "train_b2_c3", "eval_fp32", "eval_autocast"])
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert sorted(rows) == ["eval_fp32", "train_b2_c3", "train_cfg_c3"]
    assert "eval_autocast left out" in out
    assert [rows[name][1] for name in ("train_cfg_c3", "train_b2_c3", "eval_fp32")] == [
        str(CONFIG_BATCH[method]), "2", "2"]
    peak = max(float(rows[name][4]) for name in ("train_cfg_c3", "train_b2_c3"))
    assert re.search(rf"^peak memory per run: {peak:.0f} MiB \(CPU\)$", out, re.M)
