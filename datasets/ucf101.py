"""UCF101 middle frames (101 actions): split_zhou_UCF101.json, else ucfTrainTestlist/*01.txt.

Class and folder names split the CamelCase action at capitals: 'ApplyEyeMakeup' -> 'Apply_Eye_Makeup'.
"""
import os
import re
from typing import Dict, List

from dassl.data.datasets import DATASET_REGISTRY, Datum
from dassl.utils.errors import CorruptFileError

from ._reader import CoOpDataset, annotation_lines
from .splits import Split, make_items, split_trainval


def snake_case_action(action: str) -> str:
    return "_".join(re.findall(r"[A-Z][^A-Z]*", action))


@DATASET_REGISTRY.register()
class UCF101(CoOpDataset):
    dataset_dir = "ucf101"
    image_folder = "UCF-101-midframes"
    split_file = "split_zhou_UCF101.json"

    def build_split(self) -> Split:
        class_file = os.path.join(self.dataset_dir, "ucfTrainTestlist", "classInd.txt")
        self.require_source(class_file)
        cname2lab = {}
        for line in annotation_lines(class_file):
            index, action = line.split(" ")[:2]
            cname2lab[action] = int(index) - 1
        trainval = self._read(cname2lab, "trainlist01.txt")
        test = self._read(cname2lab, "testlist01.txt")
        train, val = split_trainval(self.name, trainval)
        return train, val, test

    def _read(self, cname2lab: Dict[str, int], filename: str) -> List[Datum]:
        """Lines 'Action/v_Action_gXX_cYY.avi [label]'; the frame is <Snake_Case>/v_..._cYY.jpg."""
        path = os.path.join(self.dataset_dir, "ucfTrainTestlist", filename)
        self.require_source(path)
        records = []
        for number, line in enumerate(annotation_lines(path), start=1):
            action, video = line.split(" ")[0].split("/")
            if action not in cname2lab:
                raise CorruptFileError(f"{self.name}: {path} line {number}: action {action!r} is not in classInd.txt")
            folder = snake_case_action(action)
            records.append((os.path.join(self.image_dir, folder, video.replace(".avi", ".jpg")), cname2lab[action], folder))
        return make_items(self.name, records, path, self.root)
