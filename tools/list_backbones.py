"""List the CLIP backbones this project can load: OpenAI's releases and open_clip's pretrained tags.

    python -m tools.list_backbones            # what loads: name, tag, parameters, image size, ...
    python -m tools.list_backbones --all      # also open_clip's other backbones and why they do not
    python -m tools.list_backbones --model ViT-L-14

A row gives MODEL.BACKBONE.NAME and MODEL.BACKBONE.PRETRAINED for a config (or `clip.load(name,
pretrained=tag)`), the parameter count of the whole CLIP, the image size (INPUT.SIZE must equal it),
the context length, the activation and the normalisation the data pipeline will use. Nothing is
downloaded; whether the weights are already in the Hugging Face cache is shown.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import torch

if __package__ in (None, ""):  # run as `python tools/list_backbones.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clip import hub  # noqa: E402
from clip.backbones import CLIP_MEAN, Backbone, open_clip_catalogue  # noqa: E402
from clip.model import CLIP  # noqa: E402
from clip.weights import SOURCES, source_for_url  # noqa: E402
from dassl.utils.errors import add_debug_flag, run_cli  # noqa: E402

HEADER = ["name", "tag", "params", "image", "context", "activation", "normalisation", "weights"]


def parameter_count(sizes: dict) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in CLIP(**sizes).parameters())


def _normalisation(backbone: Backbone) -> str:
    return "openai" if backbone.mean == CLIP_MEAN else "/".join(f"{v:g}" for v in backbone.mean)


def _weights(backbone: Backbone) -> str:
    source = source_for_url(backbone.url) if backbone.url else None
    if source is not None:
        return f"OpenAI release ({source.name})"
    cached = any(hub.cached_file(backbone.hub_repo, name) for name in backbone.hub_files)
    return f"{backbone.hub_repo}{' (in the hub cache)' if cached else ''}"


def rows(model_filter: Optional[str] = None, include_unsupported: bool = False) -> List[List[str]]:
    """One row per open_clip backbone, as the command prints them."""
    table = []
    for entry in open_clip_catalogue():
        if model_filter and entry.model != model_filter:
            continue
        if entry.backbone is None:
            if include_unsupported:
                table.append([entry.model, entry.tag, "-", "-", "-", "-", "-",
                              "not loadable: " + "; ".join(entry.problems)])
            continue
        backbone = entry.backbone
        table.append([entry.model, entry.tag, f"{parameter_count(entry.sizes) / 1e6:.1f}M", str(backbone.image_size),
                      str(backbone.context_length), backbone.activation, _normalisation(backbone),
                      _weights(backbone)])
    return table


def format_rows(table: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [HEADER, *table]) for i in range(len(HEADER) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
             for row in [HEADER, *table]]
    return "\n".join(line.rstrip() for line in lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="also list open_clip backbones that cannot be loaded")
    parser.add_argument("--model", default=None, help="only this open_clip model name (e.g. ViT-L-14)")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    print("OpenAI names (MODEL.BACKBONE.NAME, no tag): " + ", ".join(SOURCES))
    print("open_clip backbones (MODEL.BACKBONE.NAME and MODEL.BACKBONE.PRETRAINED):")
    print(format_rows(rows(args.model, args.all)))


if __name__ == "__main__":
    run_cli(main)
