"""The 15 datasets by name, with their published sizes.

Users name a dataset two ways: by its config file name (``oxford_pets``, as in
``configs/datasets/oxford_pets.yaml`` and the scripts) and by its registry name (``OxfordPets``,
as in ``DATASET.NAME``). Tools accept both. The sizes are those of the CoOp split files (see
docs/DATASETS.md); ``tools/check_data.py`` compares a prepared copy against them.
"""
from dataclasses import dataclass
from typing import Optional

from dassl.utils.errors import ConfigKeyError


@dataclass(frozen=True)
class DatasetFacts:
    key: str
    name: str
    num_classes: int
    train: Optional[int]
    val: Optional[int]
    test: int
    base_test: Optional[int] = None
    new_test: Optional[int] = None

    @property
    def test_only(self) -> bool:
        return self.train is None


CATALOG = (
    DatasetFacts("imagenet", "ImageNet", 1000, 1_281_167, 50_000, 50_000, 25_000, 25_000),
    DatasetFacts("caltech101", "Caltech101", 100, 4_128, 1_649, 2_465, 1_549, 916),
    DatasetFacts("oxford_pets", "OxfordPets", 37, 2_944, 736, 3_669, 1_881, 1_788),
    DatasetFacts("stanford_cars", "StanfordCars", 196, 6_509, 1_635, 8_041, 4_002, 4_039),
    DatasetFacts("oxford_flowers", "OxfordFlowers", 102, 4_093, 1_633, 2_463, 1_053, 1_410),
    DatasetFacts("food101", "Food101", 101, 50_500, 20_200, 30_300, 15_300, 15_000),
    DatasetFacts("fgvc_aircraft", "FGVCAircraft", 100, 3_334, 3_333, 3_333, 1_666, 1_667),
    DatasetFacts("sun397", "SUN397", 397, 15_880, 3_970, 19_850, 9_950, 9_900),
    DatasetFacts("dtd", "DescribableTextures", 47, 2_820, 1_128, 1_692, 864, 828),
    DatasetFacts("eurosat", "EuroSAT", 10, 13_500, 5_400, 8_100, 4_200, 3_900),
    DatasetFacts("ucf101", "UCF101", 101, 7_639, 1_898, 3_783, 1_934, 1_849),
    DatasetFacts("imagenetv2", "ImageNetV2", 1000, None, None, 10_000),
    DatasetFacts("imagenet_sketch", "ImageNetSketch", 1000, None, None, 50_889),
    DatasetFacts("imagenet_a", "ImageNetA", 200, None, None, 7_500),
    DatasetFacts("imagenet_r", "ImageNetR", 200, None, None, 30_000),
)


def lookup(name: str) -> DatasetFacts:
    """Find a dataset by config name or registry name, ignoring case, '-' and '_'."""
    wanted = _normalise(name)
    for facts in CATALOG:
        if wanted in (_normalise(facts.key), _normalise(facts.name)):
            return facts
    choices = ", ".join(facts.key for facts in CATALOG)
    raise ConfigKeyError(f"Unknown dataset {name!r}; choose from: {choices} (or their DATASET.NAME spellings).")


def _normalise(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")
