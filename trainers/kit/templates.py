"""Hand-written prompt templates of the CoOp benchmarks, shared by zero-shot CLIP and CLIP-Adapter.

One template per dataset (CoOp's per-dataset table), and the seven-template ImageNet ensemble that
CoOp's prompt-ensembling zero-shot trainer uses.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

DATASET_TEMPLATES: Dict[str, str] = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DescribableTextures": "{} texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}

IMAGENET_TEMPLATES_SELECT: Tuple[str, ...] = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)


def dataset_template(dataset_name: str) -> str:
    """The single hand-written template of ``dataset_name`` (a DATASET.NAME)."""
    try:
        return DATASET_TEMPLATES[dataset_name]
    except KeyError:
        raise KeyError(
            f"No prompt template for dataset {dataset_name!r}. Known datasets: "
            f"{', '.join(sorted(DATASET_TEMPLATES))}. Add an entry to DATASET_TEMPLATES in "
            "trainers/kit/templates.py for a new dataset."
        ) from None


def ensemble_templates(dataset_name: str) -> List[str]:
    """The ensemble of CoOp's ``ZeroshotCLIP2``: the seven ImageNet templates, plus the dataset's own
    template for every dataset other than ImageNet."""
    templates = list(IMAGENET_TEMPLATES_SELECT)
    if dataset_name != "ImageNet":
        templates.append(dataset_template(dataset_name))
    return templates


def fill_template(template: str, classnames: List[str]) -> List[str]:
    """One prompt per class, underscores in class names read as spaces."""
    return [template.format(name.replace("_", " ")) for name in classnames]
