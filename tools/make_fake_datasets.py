"""Write tiny fake copies of the 15 benchmark datasets in CoOp's real folder layouts.

Tests and the offline smoke run need every dataset reader to run end to end without the real data.
Each fake copy has the real folder layout, the real number of classes (so base/new sizes are the
real ones), the real raw class names wherever a reader transforms them (Caltech101, EuroSAT,
OxfordPets, SUN397-style paths, StanfordCars years, UCF101 CamelCase), a split_zhou JSON in the real
format, and the raw annotation files in their real record formats, so a reader's no-JSON path
can be exercised by deleting the JSON. Images are a small pool of JPEGs of varied sizes and colour
modes whose bytes are shared between files, which keeps a full build to a few seconds.

Usage: python tools/make_fake_datasets.py ROOT [--names oxford_pets dtd ...] [--images-per-class N]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image

if __package__ in (None, ""):  # run as `python tools/make_fake_datasets.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dassl.utils.errors import ConfigValueError, add_debug_flag, run_cli  # noqa: E402

DEFAULT_IMAGES_PER_CLASS = 6
MIN_IMAGES_PER_CLASS = 4
IMAGENET_TRAIN_PER_CLASS = 2
IMAGENET_VAL_PER_CLASS = 1
VARIANT_IMAGES_PER_CLASS = 1
# datasets.errors.FAKE_DATASET_MARKER: the readers then check a fake copy's classes, not its image counts.
FAKE_DATASET_MARKER = ".fake_dataset"

CALTECH_FOLDERS = (
    "BACKGROUND_Google Faces Faces_easy Leopards Motorbikes accordion airplanes anchor ant barrel bass "
    "beaver binocular bonsai brain brontosaurus buddha butterfly camera cannon car_side ceiling_fan "
    "cellphone chair chandelier cougar_body cougar_face crab crayfish crocodile crocodile_head cup "
    "dalmatian dollar_bill dolphin dragonfly electric_guitar elephant emu euphonium ewer ferry flamingo "
    "flamingo_head garfield gerenuk gramophone grand_piano hawksbill headphone hedgehog helicopter ibis "
    "inline_skate joshua_tree kangaroo ketch lamp laptop llama lobster lotus mandolin mayfly menorah "
    "metronome minaret nautilus octopus okapi pagoda panda pigeon pizza platypus pyramid revolver rhino "
    "rooster saxophone schooner scissors scorpion sea_horse snoopy soccer_ball stapler starfish "
    "stegosaurus stop_sign strawberry sunflower tick trilobite umbrella watch water_lilly wheelchair "
    "wild_cat windsor_chair wrench yin_yang"
).split()

PET_BREEDS = (
    "Abyssinian american_bulldog american_pit_bull_terrier basset_hound beagle Bengal Birman Bombay boxer "
    "British_Shorthair chihuahua Egyptian_Mau english_cocker_spaniel english_setter german_shorthaired "
    "great_pyrenees havanese japanese_chin keeshond leonberger Maine_Coon miniature_pinscher newfoundland "
    "Persian pomeranian pug Ragdoll Russian_Blue saint_bernard samoyed scottish_terrier shiba_inu Siamese "
    "Sphynx staffordshire_bull_terrier wheaten_terrier yorkshire_terrier"
).split()

DTD_TEXTURES = (
    "banded blotchy braided bubbly bumpy chequered cobwebbed cracked crosshatched crystalline dotted "
    "fibrous flecked freckled frilly gauzy grid grooved honeycombed interlaced knitted lacelike lined "
    "marbled matted meshed paisley perforated pitted pleated polka-dotted porous potholed scaly smeared "
    "spiralled sprinkled stained stratified striped studded swirly veined waffled woven wrinkled zigzagged"
).split()

EUROSAT_FOLDERS = (
    "AnnualCrop Forest HerbaceousVegetation Highway Industrial Pasture PermanentCrop Residential River SeaLake"
).split()

FOOD_DISHES = (
    "apple_pie baby_back_ribs baklava beef_carpaccio beef_tartare beet_salad beignets bibimbap "
    "bread_pudding breakfast_burrito bruschetta caesar_salad cannoli caprese_salad carrot_cake ceviche "
    "cheese_plate cheesecake chicken_curry chicken_quesadilla chicken_wings chocolate_cake "
    "chocolate_mousse churros clam_chowder club_sandwich crab_cakes creme_brulee croque_madame "
    "cup_cakes deviled_eggs donuts dumplings edamame eggs_benedict escargots falafel filet_mignon "
    "fish_and_chips foie_gras french_fries french_onion_soup french_toast fried_calamari fried_rice "
    "frozen_yogurt garlic_bread gnocchi greek_salad grilled_cheese_sandwich grilled_salmon guacamole "
    "gyoza hamburger hot_and_sour_soup hot_dog huevos_rancheros hummus ice_cream lasagna lobster_bisque "
    "lobster_roll_sandwich macaroni_and_cheese macarons miso_soup mussels nachos omelette onion_rings "
    "oysters pad_thai paella pancakes panna_cotta peking_duck pho pizza pork_chop poutine prime_rib "
    "pulled_pork_sandwich ramen ravioli red_velvet_cake risotto samosa sashimi scallops seaweed_salad "
    "shrimp_and_grits spaghetti_bolognese spaghetti_carbonara spring_rolls steak strawberry_shortcake "
    "sushi tacos takoyaki tiramisu tuna_tartare waffles"
).split()

UCF_ACTIONS = (
    "ApplyEyeMakeup ApplyLipstick Archery BabyCrawling BalanceBeam BandMarching BaseballPitch Basketball "
    "BasketballDunk BenchPress Biking Billiards BlowDryHair BlowingCandles BodyWeightSquats Bowling "
    "BoxingPunchingBag BoxingSpeedBag BreastStroke BrushingTeeth CleanAndJerk CliffDiving CricketBowling "
    "CricketShot CuttingInKitchen Diving Drumming Fencing FieldHockeyPenalty FloorGymnastics FrisbeeCatch "
    "FrontCrawl GolfSwing Haircut Hammering HammerThrow HandstandPushups HandstandWalking HeadMassage "
    "HighJump HorseRace HorseRiding HulaHoop IceDancing JavelinThrow JugglingBalls JumpingJack JumpRope "
    "Kayaking Knitting LongJump Lunges MilitaryParade Mixing MoppingFloor Nunchucks ParallelBars "
    "PizzaTossing PlayingCello PlayingDaf PlayingDhol PlayingFlute PlayingGuitar PlayingPiano PlayingSitar "
    "PlayingTabla PlayingViolin PoleVault PommelHorse PullUps Punch PushUps Rafting RockClimbingIndoor "
    "RopeClimbing Rowing SalsaSpin ShavingBeard Shotput SkateBoarding Skiing Skijet SkyDiving "
    "SoccerJuggling SoccerPenalty StillRings SumoWrestling Surfing Swing TableTennisShot TaiChi "
    "TennisSwing ThrowDiscus TrampolineJumping Typing UnevenBars VolleyballSpiking WalkingWithDog "
    "WallPushups WritingOnBoard YoYo"
).split()

CAR_MAKES = ("Acura", "Audi", "BMW", "Chevrolet", "Dodge", "Ford", "Honda", "Hyundai", "Nissan", "Volvo")
CAR_BODIES = ("Sedan", "Coupe", "SUV", "Convertible", "Hatchback", "Wagon", "Minivan")
AIRCRAFT_FAMILIES = ("707", "A3", "Cessna", "DC", "Falcon", "F/A", "Boeing", "Tu", "Yak", "Dash")

IMAGENET_FIRST_CLASSES = (("n01440764", "tench"), ("n01443537", "goldfish"), ("n01484850", "great white shark"))
IMAGENET_NUM_CLASSES = 1000
IMAGENET_VARIANT_CLASSES = 200


def _encode_pool() -> list[bytes]:
    """A few JPEGs of different sizes and colour modes (RGB, greyscale, CMYK); files share these bytes."""
    rng = np.random.default_rng(0)
    pool = []
    for index, (width, height) in enumerate([(24, 16), (17, 31), (40, 40), (33, 20), (12, 50), (64, 48)]):
        for mode in ("RGB", "L", "CMYK"):
            pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            image = Image.fromarray(pixels, "RGB").convert(mode)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=70 + index)
            pool.append(buffer.getvalue())
    return pool


class _Writer:
    """Writes image files and text/JSON/.mat annotations below one dataset folder."""

    def __init__(self, dataset_dir: Path, pool: Sequence[bytes]):
        self.dataset_dir = dataset_dir
        self._pool = pool
        self._count = 0
        self._made_dirs: set[str] = set()

    def image(self, relative: str) -> None:
        path = os.path.join(self.dataset_dir, relative)
        parent = os.path.dirname(path)
        if parent not in self._made_dirs:
            os.makedirs(parent, exist_ok=True)
            self._made_dirs.add(parent)
        with open(path, "wb") as handle:
            handle.write(self._pool[self._count % len(self._pool)])
        self._count += 1

    def text(self, relative: str, lines: Iterable[str]) -> None:
        path = self.dataset_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line}\n" for line in lines))

    def json(self, relative: str, obj) -> None:
        path = self.dataset_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj, indent=4, separators=(",", ": ")))

    def mat(self, relative: str, variables: dict) -> None:
        from scipy.io import savemat

        path = self.dataset_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        savemat(str(path), variables)


def _split_counts(n: int) -> tuple[int, int, int]:
    """Per-class train/val/test sizes with CoOp's 50/20/30 rounding (all three are > 0 for n >= 4)."""
    n_train = round(n * 0.5)
    n_val = round(n * 0.2)
    return n_train, n_val, n - n_train - n_val


def _split_json(per_class: Sequence[Sequence[tuple[str, int, str]]], n: int) -> dict:
    """Cut each class's records 50/20/30 into a split_zhou dict of [path, label, name] records."""
    n_train, n_val, _ = _split_counts(n)
    split = {"train": [], "val": [], "test": []}
    for records in per_class:
        split["train"] += [list(r) for r in records[:n_train]]
        split["val"] += [list(r) for r in records[n_train:n_train + n_val]]
        split["test"] += [list(r) for r in records[n_train + n_val:]]
    return split


def _camel_to_snake(action: str) -> str:
    return "_".join(re.findall(r"[A-Z][^A-Z]*", action))


def _folder_split_dataset(w: _Writer, image_root: str, folders: Sequence[str], n: int,
                          names: dict[str, str], ignored: Sequence[str], split_file: str) -> None:
    """Class-per-folder datasets (Caltech101, DTD, EuroSAT, Food101): images plus a split JSON."""
    per_class = []
    for folder in folders:
        files = [f"{folder}/{folder.lower()}_{i + 1:04d}.jpg" for i in range(n)]
        for rel in files:
            w.image(f"{image_root}/{rel}")
        if folder in ignored:
            continue
        label = len(per_class)
        per_class.append([(rel, label, names.get(folder, folder)) for rel in files])
    w.json(split_file, _split_json(per_class, n))


def _write_caltech101(w: _Writer, n: int) -> None:
    renames = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}
    _folder_split_dataset(w, "101_ObjectCategories", sorted(CALTECH_FOLDERS), n, renames,
                          ("BACKGROUND_Google", "Faces_easy"), "split_zhou_Caltech101.json")


def _write_dtd(w: _Writer, n: int) -> None:
    _folder_split_dataset(w, "images", DTD_TEXTURES, n, {}, (), "split_zhou_DescribableTextures.json")


def _write_eurosat(w: _Writer, n: int) -> None:
    renames = {
        "AnnualCrop": "Annual Crop Land", "HerbaceousVegetation": "Herbaceous Vegetation Land",
        "Highway": "Highway or Road", "Industrial": "Industrial Buildings", "Pasture": "Pasture Land",
        "PermanentCrop": "Permanent Crop Land", "Residential": "Residential Buildings", "SeaLake": "Sea or Lake",
    }
    _folder_split_dataset(w, "2750", EUROSAT_FOLDERS, n, renames, (), "split_zhou_EuroSAT.json")


def _write_food101(w: _Writer, n: int) -> None:
    _folder_split_dataset(w, "images", FOOD_DISHES, n, {}, (), "split_zhou_Food101.json")
    w.text("meta/classes.txt", FOOD_DISHES)


def _write_oxford_pets(w: _Writer, n: int) -> None:
    n_train, n_val, _ = _split_counts(n)
    per_class, trainval_lines, test_lines = [], [], []
    species_seen = {1: 0, 2: 0}
    for class_id, breed in enumerate(PET_BREEDS, start=1):
        species = 1 if breed[0].isupper() else 2
        species_seen[species] += 1
        records = []
        for i in range(n):
            stem = f"{breed}_{100 + i}"
            w.image(f"images/{stem}.jpg")
            line = f"{stem} {class_id} {species} {species_seen[species]}"
            (trainval_lines if i < n_train + n_val else test_lines).append(line)
            records.append((f"{stem}.jpg", class_id - 1, breed.lower()))
        per_class.append(records)
    w.text("annotations/trainval.txt", trainval_lines)
    w.text("annotations/test.txt", test_lines)
    w.json("split_zhou_OxfordPets.json", _split_json(per_class, n))


def _car_names() -> list[str]:
    names = ["AM General Hummer SUV 2000"]
    while len(names) < 196:
        k = len(names)
        make = CAR_MAKES[k % len(CAR_MAKES)]
        body = CAR_BODIES[k % len(CAR_BODIES)]
        names.append(f"{make} Model {k} {body} {1990 + k % 23}")
    return names


def _cars_annotations(records: Sequence[tuple[str, int]]) -> np.ndarray:
    """A 1xN MATLAB struct array with the real fields (bbox corners, 1-based class, fname)."""
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    annos = np.zeros((1, len(records)), dtype=[(f, "O") for f in fields])
    for i, (fname, class_id) in enumerate(records):
        box = [np.array([[v]], dtype=np.uint16) for v in (1, 2, 10, 12)]
        annos[0, i] = (*box, np.array([[class_id]], dtype=np.uint8), np.array([fname]))
    return annos


def _write_stanford_cars(w: _Writer, n: int) -> None:
    n_train, n_val, _ = _split_counts(n)
    names = _car_names()
    per_class, train_annos, test_annos = [], [], []
    for label, name in enumerate(names):
        pieces = name.split(" ")
        renamed = " ".join([pieces[-1]] + pieces[:-1])
        records = []
        for i in range(n):
            if i < n_train + n_val:
                fname = f"{len(train_annos) + 1:05d}.jpg"
                train_annos.append((fname, label + 1))
                rel = f"cars_train/{fname}"
            else:
                fname = f"{len(test_annos) + 1:05d}.jpg"
                test_annos.append((fname, label + 1))
                rel = f"cars_test/{fname}"
            w.image(rel)
            records.append((rel, label, renamed))
        per_class.append(records)
    w.mat("devkit/cars_train_annos.mat", {"annotations": _cars_annotations(train_annos)})
    w.mat("cars_test_annos_withlabels.mat", {"annotations": _cars_annotations(test_annos)})
    class_names = np.empty((1, len(names)), dtype=object)
    for i, name in enumerate(names):
        class_names[0, i] = name
    w.mat("devkit/cars_meta.mat", {"class_names": class_names})
    w.json("split_zhou_StanfordCars.json", _split_json(per_class, n))


def _write_oxford_flowers(w: _Writer, n: int) -> None:
    num_classes = 102
    names = {str(c + 1): f"flower kind {c + 1}" for c in range(num_classes)}
    per_class: list[list] = [[] for _ in range(num_classes)]
    labels = []
    for i in range(num_classes * n):
        label = i % num_classes
        fname = f"image_{i + 1:05d}.jpg"
        w.image(f"jpg/{fname}")
        labels.append(label + 1)
        per_class[label].append((fname, label, names[str(label + 1)]))
    w.mat("imagelabels.mat", {"labels": np.array([labels], dtype=np.uint8)})
    w.json("cat_to_name.json", names)
    w.json("split_zhou_OxfordFlowers.json", _split_json(per_class, n))


def _write_fgvc_aircraft(w: _Writer, n: int) -> None:
    n_train, n_val, _ = _split_counts(n)
    variants = []
    for k in range(100):
        family = AIRCRAFT_FAMILIES[k % len(AIRCRAFT_FAMILIES)]
        variants.append(f"{family} {k}" if k % 3 == 0 else f"{family}-{k}")
    lines = {"train": [], "val": [], "test": []}
    image_id = 1000000
    for variant in variants:
        for i in range(n):
            image_id += 7
            w.image(f"images/{image_id:07d}.jpg")
            part = "train" if i < n_train else "val" if i < n_train + n_val else "test"
            lines[part].append(f"{image_id:07d} {variant}")
    w.text("variants.txt", variants)
    for part, part_lines in lines.items():
        w.text(f"images_variant_{part}.txt", part_lines)


def _sun_classes() -> list[str]:
    """397 class keys like 'a/abbey' or 'a/apartment_building/outdoor' (some two-level, as in SUN397)."""
    keys = ["a/abbey", "a/apartment_building/outdoor"]
    while len(keys) < 397:
        k = len(keys)
        letter = chr(ord("a") + k % 26)
        key = f"{letter}/place_{k}"
        if k % 5 == 0:
            key += "/indoor" if k % 2 else "/outdoor"
        keys.append(key)
    return sorted(keys)


def _write_sun397(w: _Writer, n: int) -> None:
    n_train, n_val, _ = _split_counts(n)
    per_class, training, testing = [], [], []
    for label, key in enumerate(_sun_classes()):
        pieces = key.split("/")[1:]
        name = " ".join(reversed(pieces))
        records = []
        for i in range(n):
            rel = f"{key}/sun_{label:04x}{i:02d}fakeimage.jpg"
            w.image(f"SUN397/{rel}")
            (training if i < n_train + n_val else testing).append(f"/{rel}")
            records.append((rel, label, name))
        per_class.append(records)
    w.text("ClassName.txt", [f"/{key}" for key in _sun_classes()])
    w.text("Training_01.txt", training)
    w.text("Testing_01.txt", testing)
    w.json("split_zhou_SUN397.json", _split_json(per_class, n))


def _write_ucf101(w: _Writer, n: int) -> None:
    n_train, n_val, _ = _split_counts(n)
    per_class, trainlist, testlist = [], [], []
    for index, action in enumerate(UCF_ACTIONS, start=1):
        folder = _camel_to_snake(action)
        records = []
        for i in range(n):
            video = f"v_{action}_g{i + 1:02d}_c01"
            w.image(f"UCF-101-midframes/{folder}/{video}.jpg")
            if i < n_train + n_val:
                trainlist.append(f"{action}/{video}.avi {index}")
            else:
                testlist.append(f"{action}/{video}.avi")
            records.append((f"{folder}/{video}.jpg", index - 1, folder))
        per_class.append(records)
    w.text("ucfTrainTestlist/classInd.txt", [f"{i} {a}" for i, a in enumerate(UCF_ACTIONS, start=1)])
    w.text("ucfTrainTestlist/trainlist01.txt", trainlist)
    w.text("ucfTrainTestlist/testlist01.txt", testlist)
    w.json("split_zhou_UCF101.json", _split_json(per_class, n))


def _imagenet_classes() -> list[tuple[str, str]]:
    """1000 (wnid, name) pairs in sorted-wnid order; the first three are ImageNet's real first classes."""
    classes = list(IMAGENET_FIRST_CLASSES)
    while len(classes) < IMAGENET_NUM_CLASSES:
        k = len(classes)
        classes.append((f"n{1500000 + k * 1000:08d}", f"object number {k}"))
    return classes


def _classnames_lines() -> list[str]:
    return [f"{wnid} {name}" for wnid, name in _imagenet_classes()]


def _write_imagenet(w: _Writer, n: int) -> None:
    val_index = 0
    for wnid, _ in _imagenet_classes():
        for i in range(IMAGENET_TRAIN_PER_CLASS):
            w.image(f"images/train/{wnid}/{wnid}_{i + 1}.JPEG")
        for _ in range(IMAGENET_VAL_PER_CLASS):
            val_index += 1
            w.image(f"images/val/{wnid}/ILSVRC2012_val_{val_index:08d}.JPEG")
    w.text("classnames.txt", _classnames_lines())


def _write_imagenetv2(w: _Writer, n: int) -> None:
    for label in range(IMAGENET_NUM_CLASSES):
        for i in range(VARIANT_IMAGES_PER_CLASS):
            w.image(f"imagenetv2-matched-frequency-format-val/{label}/{label:04x}{i}fake.jpeg")
    w.text("classnames.txt", _classnames_lines())


def _write_imagenet_sketch(w: _Writer, n: int) -> None:
    for wnid, _ in _imagenet_classes():
        for i in range(VARIANT_IMAGES_PER_CLASS):
            w.image(f"images/{wnid}/sketch_{i}.JPEG")
    w.text("classnames.txt", _classnames_lines())


def _write_200_class_variant(w: _Writer, image_root: str, offset: int, prefix: str) -> None:
    classes = _imagenet_classes()
    step = IMAGENET_NUM_CLASSES // IMAGENET_VARIANT_CLASSES
    for wnid, _ in classes[offset::step][:IMAGENET_VARIANT_CLASSES]:
        for i in range(VARIANT_IMAGES_PER_CLASS):
            w.image(f"{image_root}/{wnid}/{prefix}_{i}.jpg")
    w.text(f"{image_root}/README.txt", [f"Fake {image_root}: {IMAGENET_VARIANT_CLASSES} ImageNet classes."])
    w.text("classnames.txt", _classnames_lines())


def _write_imagenet_a(w: _Writer, n: int) -> None:
    _write_200_class_variant(w, "imagenet-a", 0, "0.000116_fake _ adversarial_0.5")


def _write_imagenet_r(w: _Writer, n: int) -> None:
    _write_200_class_variant(w, "imagenet-r", 2, "art")


# name (as in configs/datasets/<name>.yaml) -> (folder under ROOT, writer)
FAKE_DATASETS: dict[str, tuple[str, Callable[[_Writer, int], None]]] = {
    "imagenet": ("imagenet", _write_imagenet),
    "caltech101": ("caltech-101", _write_caltech101),
    "oxford_pets": ("oxford_pets", _write_oxford_pets),
    "stanford_cars": ("stanford_cars", _write_stanford_cars),
    "oxford_flowers": ("oxford_flowers", _write_oxford_flowers),
    "food101": ("food-101", _write_food101),
    "fgvc_aircraft": ("fgvc_aircraft", _write_fgvc_aircraft),
    "sun397": ("sun397", _write_sun397),
    "dtd": ("dtd", _write_dtd),
    "eurosat": ("eurosat", _write_eurosat),
    "ucf101": ("ucf101", _write_ucf101),
    "imagenetv2": ("imagenetv2", _write_imagenetv2),
    "imagenet_sketch": ("imagenet-sketch", _write_imagenet_sketch),
    "imagenet_a": ("imagenet-adversarial", _write_imagenet_a),
    "imagenet_r": ("imagenet-rendition", _write_imagenet_r),
}


def make_fake_datasets(root, names: Sequence[str] | None = None,
                       images_per_class: int = DEFAULT_IMAGES_PER_CLASS) -> None:
    """Write fake copies of the named datasets (default: all 15) under ``root``.

    ``images_per_class`` applies to the 11 benchmarks (train/val/test cut 50/20/30 per class);
    the ImageNet family always gets 2 train + 1 val images per class and its variants 1 per class.
    """
    if images_per_class < MIN_IMAGES_PER_CLASS:
        raise ConfigValueError(
            f"images_per_class={images_per_class} is too small: every class needs at least "
            f"{MIN_IMAGES_PER_CLASS} images so that train, val and test all get one (use 4 or more)."
        )
    selected = list(FAKE_DATASETS) if names is None else list(names)
    unknown = [name for name in selected if name not in FAKE_DATASETS]
    if unknown:
        raise ConfigValueError(f"Unknown dataset name(s) {unknown}; choose from {sorted(FAKE_DATASETS)}.")
    pool = _encode_pool()
    root = Path(root)
    for name in selected:
        folder, write = FAKE_DATASETS[name]
        write(_Writer(root / folder, pool), images_per_class)
        (root / folder / FAKE_DATASET_MARKER).write_text("fewer images per class than the real dataset\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="folder to write the fake datasets into (the DATASET.ROOT of a run)")
    parser.add_argument("--names", nargs="+", choices=sorted(FAKE_DATASETS), help="datasets to write (default: all)")
    parser.add_argument("--images-per-class", type=int, default=DEFAULT_IMAGES_PER_CLASS,
                        help=f"images per class for the 11 benchmarks (default {DEFAULT_IMAGES_PER_CLASS})")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    make_fake_datasets(args.root, args.names, args.images_per_class)
    print(f"Wrote fake datasets to {Path(args.root).resolve()}")


if __name__ == "__main__":
    run_cli(main)
