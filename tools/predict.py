"""Classify image files with a trained MMA model against any class names.

    python tools/predict.py --model-dir output/base2new/train_base/eurosat/shots_16/MultiModalAdapter/vit_b16_ep5/seed1 \\
        --classnames "annual crop land" forest "sea or lake" --images a.jpg b.jpg --topk 3

The class names need not be the ones the model was trained on: MMA's text adapters encode any
prompt "<TEXT_CTX_INIT> <name>.". The model is built from the run's own saved config (config.yaml
in --model-dir: backbone, layer range, dim, scale, input size), so no training option is repeated;
--config-file replaces it (for a run without config.yaml the default is the shipped vit_b16_ep5.yaml),
and --opts overrides single keys.
"""
from __future__ import annotations

import argparse
import contextlib
import os.path as osp
import sys
from typing import List, Optional, Sequence, Tuple

if __package__ in (None, ""):
    # Run as a script (python tools/predict.py): make the repository's packages importable.
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch

import train
from dassl.config import CfgNode, get_cfg_default
from dassl.data.transforms import build_transform
from dassl.utils import load_checkpoint, read_image
from dassl.utils.errors import ConfigValueError, InputFileNotFoundError, add_debug_flag, run_cli
from trainers.kit.backbone import effective_precision, settle_backbone_inputs
from trainers.kit.checkpoints import checkpoint_file
from trainers.mmadapter import LEARNER_NAME, CustomCLIP, build_custom_clip

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO_ROOT, "configs", "trainers", "MultiModalAdapter", "vit_b16_ep5.yaml")


def config_for(model_dir: str, config_file: Optional[str] = None) -> str:
    """The yaml that describes the model: the one given, else the run's config.yaml, else the default."""
    return config_file or train.run_config_file(model_dir) or DEFAULT_CONFIG


def build_cfg(config_file: str = DEFAULT_CONFIG, opts: Sequence[str] = ()) -> CfgNode:
    """The default config with every trainer's node, the given yaml and ``KEY VALUE`` overrides."""
    cfg = get_cfg_default()
    train.extend_cfg(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    settle_backbone_inputs(cfg)
    cfg.freeze()
    return cfg


def resolve_checkpoint(model_dir: str, load_epoch: Optional[int]) -> str:
    """``model.pth.tar-<load_epoch>``, or by default the last checkpoint the run saved."""
    if load_epoch is None:
        pointer = osp.join(model_dir, LEARNER_NAME, "checkpoint")
        if osp.isfile(pointer):
            with open(pointer) as f:
                return osp.join(model_dir, LEARNER_NAME, f.readline().strip())
    return checkpoint_file(model_dir, load_epoch, LEARNER_NAME)


def load_classifier(
    cfg: CfgNode, model_dir: str, classnames: Sequence[str], load_epoch: Optional[int] = None
) -> CustomCLIP:
    """An MMA model over ``classnames`` with the trained adapters, in eval mode on cfg's device."""
    if not classnames:
        raise ConfigValueError("Give at least one class name to classify against.")
    device = torch.device("cuda" if torch.cuda.is_available() and cfg.USE_CUDA else "cpu")
    model = build_custom_clip(cfg, list(classnames), effective_precision(cfg.TRAINER.MMADAPTER.PREC, device))
    path = resolve_checkpoint(model_dir, load_epoch)
    model.adapter_learner.load_adapter_state_dict(load_checkpoint(path)["state_dict"], source=path)
    return model.to(device).eval()


@torch.no_grad()
def predict(
    image_paths: Sequence[str],
    classnames: Sequence[str],
    model_dir: str,
    config_file: Optional[str] = None,
    load_epoch: Optional[int] = None,
    topk: int = 5,
    opts: Sequence[str] = (),
) -> List[List[Tuple[str, float]]]:
    """For each image, its ``topk`` (class name, probability) pairs, most likely first."""
    missing = [p for p in image_paths if not osp.isfile(p)]
    if missing:
        raise InputFileNotFoundError(f"Image file(s) not found: {', '.join(missing)}")
    cfg = build_cfg(config_for(model_dir, config_file), opts)
    with contextlib.redirect_stdout(sys.stderr):  # the engine's build messages; stdout is for results
        model = load_classifier(cfg, model_dir, classnames, load_epoch)
        transform = build_transform(cfg, is_train=False)
    device = next(model.parameters()).device
    k = min(topk, len(classnames))
    results = []
    batch_size = cfg.DATALOADER.TEST.BATCH_SIZE
    for first in range(0, len(image_paths), batch_size):
        chunk = image_paths[first:first + batch_size]
        images = torch.stack([transform(read_image(p)) for p in chunk]).to(device)
        probs = model(images).float().softmax(dim=-1)
        values, indices = probs.topk(k, dim=-1)
        for row_values, row_indices in zip(values.tolist(), indices.tolist()):
            results.append([(classnames[i], p) for i, p in zip(row_indices, row_values)])
    return results


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True, help="output folder of an MMA training run (holds adapter_learner/)")
    parser.add_argument("--load-epoch", type=int, default=None,
                        help="load model.pth.tar-N (default: the last checkpoint the run saved)")
    parser.add_argument("--config-file", default=None,
                        help="config the model was trained with (default: the run's config.yaml, else vit_b16_ep5.yaml)")
    parser.add_argument("--classnames", nargs="+", required=True, help="class names to classify against")
    parser.add_argument("--images", nargs="+", required=True, help="image files to classify")
    parser.add_argument("--topk", type=int, default=5, help="how many classes to print per image (default 5)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="config overrides as KEY VALUE pairs, e.g. MODEL.BACKBONE.NAME /path/to/clip.pt")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if args.topk < 1:
        parser.error("--topk must be at least 1")
    results = predict(args.images, args.classnames, args.model_dir, args.config_file, args.load_epoch,
                      args.topk, args.opts)
    width = max(len(name) for name in args.classnames)
    for path, ranking in zip(args.images, results):
        print(path)
        for rank, (name, prob) in enumerate(ranking, start=1):
            print(f"  {rank}. {name:<{width}}  {100 * prob:5.1f}%")


if __name__ == "__main__":
    run_cli(main)
