"""LLM-written class descriptions ("CuPL" prompts) that MMA++ uses as text prompt banks.

They are another project's data: the data downloader fetches the pinned files of ZjjConan/VLM-MMApp
(``python tools/download_data.py ROOT --cupl``) into ``ROOT/cupl/``, each checked against its SHA256.
Each file is a Python module holding one assignment ``<NAME>_TEMPLATES = {class name: [sentences]}``;
it is read with a literal parser and never imported or executed: a file holding anything other than
that one dict literal of strings is refused.
"""
from __future__ import annotations

import ast
import os.path as osp
from typing import Dict, List, Tuple

from dassl.utils.errors import FrameworkError

CUPL_COMMIT = "e686c34fec7ec8c8e857633f4afcbeb09a693788"
CUPL_URL = f"https://raw.githubusercontent.com/ZjjConan/VLM-MMApp/{CUPL_COMMIT}/trainers/gpt3_prompts/{{}}"
CUPL_FOLDER = "cupl"
# file -> (bytes, sha256) at CUPL_COMMIT
CUPL_FILES: Dict[str, Tuple[int, str]] = {
    "caltech101.py": (268487, "262eb51baa7762320514efefc43e1027b48b6380132cfa7fcaf3c2470b1ce5f6"),
    "oxford_pets.py": (67686, "21fde2cc83540610e5d1355a69df13cae33d99fc3159f8d494b49c22b7799ca4"),
    "stanford_cars.py": (1850204, "d4faf5d0fe8758140ef8aa4dfe1de07e024c7d0e2d08d1ddf80dd6847dab4e3b"),
    "oxford_flowers.py": (197602, "5489e2262dbb930329d251a9730f4c741525c5fe9bad1381bc1cafc3bf245420"),
    "food101.py": (324596, "a1417ffb89ee82e97f88fa812046ee50ad7eb29b6e5fb192365148f827ed4ed9"),
    "fgvc_aircraft.py": (218737, "b62929a669b31527d81a5935e65ba6db53629350112b44a1ba093836785fa9e6"),
    "sun397.py": (1136640, "798020d559bf101e7128d49d6c7ef5bb6f044bd5fe323462c8f2222fbe6c922f"),
    "dtd.py": (252065, "956f4d09d539b4d1c5923e8b9bf1d7ba6789b824bda1624d930c5852b6199c28"),
    "eurosat.py": (38689, "0f75fca9c2f42bfcfa83d7d46b40ab07c2530083a3c2425fa4eb7f87f25ec2d3"),
    "ucf101.py": (576788, "22f643603bc1e23a4ebd05619d2acffb631014b8404436477f8af7c25478489f"),
    "imagenet.py": (1891131, "e671577e1bf8f285f4493c33c11fd9c9813b32bfed28f593f9c506e8a0a54eaf"),
}
# lower-cased DATASET.NAME -> file; any name containing "imagenet" reads imagenet.py (as the reference)
DATASET_FILES: Dict[str, str] = {
    "caltech101": "caltech101.py",
    "oxfordpets": "oxford_pets.py",
    "stanfordcars": "stanford_cars.py",
    "oxfordflowers": "oxford_flowers.py",
    "food101": "food101.py",
    "fgvcaircraft": "fgvc_aircraft.py",
    "describabletextures": "dtd.py",
    "eurosat": "eurosat.py",
    "sun397": "sun397.py",
    "ucf101": "ucf101.py",
}
FETCH_COMMAND = "python tools/download_data.py {root} --cupl"


class DescriptionFileError(FrameworkError, ValueError):
    """A description file is missing, is not plain data, or lacks classes."""


def normalise_name(name: str) -> str:
    """How class names and description keys are matched: lower case, underscores as spaces."""
    return name.lower().replace("_", " ")


def description_file(dataset_name: str) -> str:
    """The description file of a DATASET.NAME, or an error naming the datasets that have one."""
    key = dataset_name.lower()
    if "imagenet" in key:
        return "imagenet.py"
    try:
        return DATASET_FILES[key]
    except KeyError:
        raise DescriptionFileError(
            f"No LLM description file for DATASET.NAME {dataset_name!r}; there are files for "
            f"{', '.join(sorted(DATASET_FILES))} and every ImageNet variant. Use the 80 templates instead "
            "(TRAINER.MMADAPTERPP.INPUT_PROMPTS hc)."
        ) from None


def parse_description_file(path: str) -> Dict[str, List[str]]:
    """The ``{class name: [sentences]}`` of one file, read as a literal (never executed).

    Keys are normalised (:func:`normalise_name`); a key given twice keeps its last list, as Python's
    dict literal does (the reference imports the file).
    """
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    try:
        module = ast.parse(source, filename=path)
    except SyntaxError as err:
        raise DescriptionFileError(f"{path} is not a readable description file: {err}") from None
    body = module.body
    if len(body) != 1 or not isinstance(body[0], ast.Assign) or not isinstance(body[0].value, ast.Dict):
        raise DescriptionFileError(
            f"{path} must hold exactly one assignment NAME = {{class name: [sentences]}} and nothing else; "
            "it is read as data, never run. Fetch the pinned file again with the data downloader (--cupl)."
        )
    try:
        table = ast.literal_eval(body[0].value)
    except ValueError:
        raise DescriptionFileError(
            f"{path}: the dict holds something other than literal strings (code is never run). "
            "Fetch the pinned file again with the data downloader (--cupl)."
        ) from None
    if not all(isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
               for k, v in table.items()):
        raise DescriptionFileError(f"{path}: every entry must be a class name mapped to a list of sentences.")
    return {normalise_name(name): sentences for name, sentences in table.items()}


def load_descriptions(dataset_name: str, root: str) -> Dict[str, List[str]]:
    """The descriptions of ``dataset_name`` from ``root/cupl/``, or an error naming the fetch command."""
    path = osp.join(root, CUPL_FOLDER, description_file(dataset_name))
    if not osp.isfile(path):
        raise DescriptionFileError(
            f"The LLM description file {path} is missing. Fetch the descriptions with: "
            f"{FETCH_COMMAND.format(root=root)}"
        )
    return parse_description_file(path)


def class_descriptions(table: Dict[str, List[str]], classnames: List[str], source: str) -> List[List[str]]:
    """Each class's sentences, in class order; every class needs an entry and all the same count."""
    names = [normalise_name(name) for name in classnames]
    missing = sorted({name for name in names if name not in table})
    if missing:
        raise DescriptionFileError(
            f"{source} has no descriptions for {len(missing)} class(es): {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}. Class names are matched in lower case with '_' read as a "
            "space; rename the classes, add entries to the file, or use the 80 templates "
            "(TRAINER.MMADAPTERPP.INPUT_PROMPTS hc)."
        )
    banks = [table[name] for name in names]
    counts = sorted({len(bank) for bank in banks})
    if len(counts) != 1 or counts[0] == 0:
        raise DescriptionFileError(
            f"{source}: every class needs the same, non-zero number of descriptions; found counts {counts}."
        )
    return banks
