"""The CoOp command line: build one run's config, then train it or evaluate a saved model.

    python train.py --root data --seed 1 --trainer MultiModalAdapter \
        --dataset-config-file configs/datasets/eurosat.yaml \
        --config-file configs/trainers/MultiModalAdapter/vit_b16_ep5.yaml \
        --output-dir output/demo DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES base

Importing this module registers every dataset and trainer of the project, as CoOp-family
train.py files do. One deliberate difference from the reference: ``--seed 0`` seeds with 0
(the reference silently ignores it), and leaving ``--seed`` out keeps the config's SEED.
"""
import argparse
import os.path as osp
import re
import shlex
import sys
from typing import Any, List, Optional, Sequence

import torch
from yacs.config import CfgNode

import datasets
import trainers
from dassl.config import get_cfg_default
from dassl.engine import build_trainer, distributed
from dassl.engine.output_folder import RunRequest, claim_output_folder, redirect_evaluation
from dassl.engine.run_record import CONFIG_RECORD
from dassl.engine.stop_request import STOPPED_EXIT_CODE, TrainingStopped
from dassl.utils import collect_env_info, set_random_seed, setup_logger
from trainers.kit.backbone import settle_backbone_inputs
from dassl.utils.errors import DEBUG_FLAG, ConfigValueError, InputFileNotFoundError, add_debug_flag, run_cli


# A command-line flag (``--eval-only``), as opposed to a config key or a negative number.
FLAG_PATTERN = re.compile(r"^--[A-Za-z][\w-]*(=.*)?$")


def extend_cfg(cfg: CfgNode) -> None:
    """Add the project's keys to Dassl's defaults: every trainer's node and the data options."""
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    trainers.extend_cfg(cfg)
    datasets.extend_cfg(cfg)


def build_parser() -> argparse.ArgumentParser:
    """The reference train.py's flags, with the same names, types and defaults (except --seed)."""
    parser = argparse.ArgumentParser(
        description="Train or evaluate one run (CoOp/Dassl command line).",
        epilog="Trailing KEY VALUE pairs override config keys, e.g. DATASET.NUM_SHOTS 16 USE_CUDA False.",
    )
    parser.add_argument("--root", type=str, default="", help="dataset root (DATASET.ROOT)")
    parser.add_argument("--output-dir", type=str, default="", help="output folder (OUTPUT_DIR)")
    parser.add_argument("--resume", type=str, default="", help="checkpoint folder to resume from (RESUME)")
    parser.add_argument(
        "--seed", type=int, default=None,
        help="random seed (SEED); 0 is a valid seed here, a negative value means no seeding",
    )
    parser.add_argument("--source-domains", type=str, nargs="+", help="DATASET.SOURCE_DOMAINS")
    parser.add_argument("--target-domains", type=str, nargs="+", help="DATASET.TARGET_DOMAINS")
    parser.add_argument("--transforms", type=str, nargs="+", help="INPUT.TRANSFORMS")
    parser.add_argument("--config-file", type=str, default="",
                        help="method config yaml (--eval-only without it: the --model-dir run's config.yaml)")
    parser.add_argument("--dataset-config-file", type=str, default="", help="dataset config yaml")
    parser.add_argument("--trainer", type=str, default="", help="trainer name (TRAINER.NAME)")
    parser.add_argument("--backbone", type=str, default="", help="MODEL.BACKBONE.NAME")
    parser.add_argument("--head", type=str, default="", help="MODEL.HEAD.NAME")
    parser.add_argument("--eval-only", action="store_true", help="evaluate only, no training")
    parser.add_argument("--model-dir", type=str, default="", help="folder of the model to evaluate")
    parser.add_argument("--load-epoch", type=int, help="load the checkpoint saved after this epoch")
    parser.add_argument("--no-train", action="store_true", help="build everything, then stop")
    add_debug_flag(parser)
    parser.add_argument(
        "--overwrite", action="store_true",
        help="the output folder holds another run: move it aside (to <folder>.archived-<time>) and start afresh",
    )
    parser.add_argument(
        "opts", default=None, nargs=argparse.REMAINDER,
        help="config overrides as KEY VALUE pairs, after every flag",
    )
    return parser


def _merge_file(cfg: CfgNode, path: str, role: str) -> None:
    if not osp.isfile(path):
        raise InputFileNotFoundError(
            f"{role} not found: {path!r}. Pass an existing yaml, e.g. configs/datasets/eurosat.yaml "
            "or configs/trainers/MultiModalAdapter/vit_b16_ep5.yaml"
        )
    cfg.merge_from_file(path)


def _merge_opts(cfg: CfgNode, opts: List[str]) -> None:
    flags = [item for item in opts if FLAG_PATTERN.match(item)]
    if flags:
        raise ConfigValueError(
            f"{flags[0]} comes after the KEY VALUE overrides ({' '.join(opts)}), so it was read as one of "
            "them. Move every --flag (with its value) before the first KEY VALUE pair."
        )
    if len(opts) % 2 != 0:
        raise ConfigValueError(
            f"trailing options must be KEY VALUE pairs, got an odd number ({len(opts)}): {opts}. "
            "Put every --flag before them and quote values that contain spaces."
        )
    cfg.merge_from_list(opts)


def _copy_flags(cfg: CfgNode, args: argparse.Namespace) -> None:
    """Copy the flags that were given into the config (empty strings count as not given), and
    record the two yaml paths (DATASET_CONFIG_FILE, CONFIG_FILE) for the run's result.json."""
    flag_to_key = [
        (args.root, ("DATASET", "ROOT")),
        (args.output_dir, ("OUTPUT_DIR",)),
        (args.resume, ("RESUME",)),
        (args.source_domains, ("DATASET", "SOURCE_DOMAINS")),
        (args.target_domains, ("DATASET", "TARGET_DOMAINS")),
        (args.transforms, ("INPUT", "TRANSFORMS")),
        (args.trainer, ("TRAINER", "NAME")),
        (args.backbone, ("MODEL", "BACKBONE", "NAME")),
        (args.head, ("MODEL", "HEAD", "NAME")),
    ]
    for value, key in flag_to_key:
        if value:
            node = cfg
            for part in key[:-1]:
                node = getattr(node, part)
            setattr(node, key[-1], value)
    if args.seed is not None:
        cfg.SEED = args.seed
    cfg.DATASET_CONFIG_FILE = args.dataset_config_file
    cfg.CONFIG_FILE = args.config_file


def run_config_file(model_dir: str) -> Optional[str]:
    """The merged config a training run saved in its folder (config.yaml), if it has one."""
    path = osp.join(model_dir, CONFIG_RECORD)
    return path if model_dir and osp.isfile(path) else None


def setup_cfg(args: argparse.Namespace) -> CfgNode:
    """Dassl's merge order: defaults + extend_cfg, dataset yaml, method yaml, flags, trailing opts;
    then the input normalisation follows the backbone (trainers.kit.backbone.settle_backbone_inputs).

    An evaluation (--eval-only --model-dir RUN) without --config-file starts from the run's saved
    config.yaml instead of the defaults, so the training options need not be repeated."""
    cfg = get_cfg_default()
    extend_cfg(cfg)
    saved = run_config_file(args.model_dir) if args.eval_only and not args.config_file else None
    if saved:
        cfg.merge_from_file(saved)
    if args.dataset_config_file:
        _merge_file(cfg, args.dataset_config_file, "dataset config file")
    if args.config_file:
        _merge_file(cfg, args.config_file, "method config file")
    _copy_flags(cfg, args)
    _merge_opts(cfg, [item for item in args.opts or [] if item != DEBUG_FLAG])
    settle_backbone_inputs(cfg)
    cfg.freeze()
    return cfg


def _print_run_header(args: argparse.Namespace, cfg: CfgNode) -> None:
    print("***************\n** Arguments **\n***************")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("************\n** Config **\n************")
    print(cfg)
    print("Collecting env info ...")
    print(f"** System info **\n{collect_env_info()}\n")


def train_until_done_or_stopped(trainer: Any, command: Sequence[str]) -> None:
    """Train; on SIGTERM/SIGINT the trainer saves a resumable state and this exits with STOPPED_EXIT_CODE."""
    try:
        with trainer.stop_request:
            trainer.train()
    except TrainingStopped as stop:
        again = " ".join(shlex.quote(part) for part in ["python", *command])
        print(
            f"{stop}.\nTo continue, run the same command again (it resumes from there):\n  {again}\n"
            f"Exit code {STOPPED_EXIT_CODE}: stopped on request, resumable."
        )
        raise SystemExit(STOPPED_EXIT_CODE) from None


def run_request(cfg: CfgNode, args: argparse.Namespace, command: Sequence[str]) -> RunRequest:
    """What defines this command's run: training, or evaluating a given model (folder and epoch)."""
    if args.eval_only:
        extra = {"model_dir": osp.normpath(args.model_dir) if args.model_dir else "", "load_epoch": args.load_epoch}
        return RunRequest(cfg, "eval", command, list(args.opts or []), args.overwrite, extra)
    return RunRequest(cfg, "train", command, list(args.opts or []), args.overwrite)


def main(args: argparse.Namespace, command: Optional[Sequence[str]] = None) -> None:
    """Run one training (then its final test) or one evaluation of a saved model.

    The output folder is locked and checked against its run record before anything is written.
    """
    cfg = setup_cfg(args)
    if args.eval_only:
        cfg = redirect_evaluation(cfg, args.load_epoch)
    request = run_request(cfg, args, sys.argv if command is None else command)
    distributed.init_from_environment(cfg.USE_CUDA)
    main_process = distributed.is_main_process()
    with claim_output_folder(request) if main_process else distributed.FolderClaimedByRankZero() as output_folder:
        distributed.barrier()  # under torchrun, the other ranks start once rank 0 holds the folder
        if cfg.SEED >= 0:
            print(f"Setting fixed seed: {cfg.SEED}")
            set_random_seed(cfg.SEED)
        logger = setup_logger(cfg.OUTPUT_DIR) if main_process else distributed.silence_stdout()
        try:
            if torch.cuda.is_available() and cfg.USE_CUDA:
                torch.backends.cudnn.benchmark = True
            _print_run_header(args, cfg)
            distributed.announce()
            trainer = build_trainer(cfg)
            if getattr(trainer, "dm", None) is not None:
                output_folder.record_split(trainer.dm.dataset)
            if args.eval_only:
                trainer.load_model(args.model_dir, epoch=args.load_epoch)
                trainer.test()
            elif not args.no_train:
                train_until_done_or_stopped(trainer, request.command)
        finally:
            logger.close()
            distributed.shutdown()


if __name__ == "__main__":
    run_cli(lambda: main(build_parser().parse_args()))
