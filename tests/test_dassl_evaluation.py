"""The Classification evaluator and compute_accuracy against hand-computed numbers."""
import numpy as np
import pytest
import torch

from dassl.config import get_cfg_default
from dassl.evaluation import PREDICTIONS_FILE, build_evaluator, read_predictions, write_predictions
from dassl.metrics import compute_accuracy

# true labels 0 0 1 1 2 predicted as 0 1 1 1 0: 3 of 5 correct.
# F1 per class: class 0 TP1 FP1 FN1 -> 2/4; class 1 TP2 FP1 FN0 -> 4/5; class 2 TP0 FP0 FN1 -> 0.
LABELS = torch.tensor([0, 0, 1, 1, 2])
SCORES = torch.tensor([[3.0, 1, 0], [0, 2, 1], [0, 5, 1], [1, 2, 0], [4, 0, 3]])
MACRO_F1 = 100 * (0.5 + 0.8 + 0.0) / 3


def evaluator(tmp_path, per_class=False, cmat=False):
    cfg = get_cfg_default()
    cfg.OUTPUT_DIR = str(tmp_path)
    cfg.TEST.PER_CLASS_RESULT = per_class
    cfg.TEST.COMPUTE_CMAT = cmat
    return build_evaluator(cfg, lab2cname={0: "cat", 1: "dog", 2: "owl"})


def test_results_and_printed_lines(tmp_path, capsys):
    ev = evaluator(tmp_path)
    ev.process(SCORES[:2], LABELS[:2])
    ev.process(SCORES[2:], LABELS[2:])
    results = ev.evaluate()
    assert list(results) == ["accuracy", "error_rate", "macro_f1"]
    assert results["accuracy"] == 60.0 and results["error_rate"] == 40.0
    assert results["macro_f1"] == pytest.approx(MACRO_F1, abs=1e-12)
    printed = capsys.readouterr().out.splitlines()
    assert printed[-6:] == [
        "=> result", "* total: 5", "* correct: 3", "* accuracy: 60.0%", "* error: 40.0%", "* macro_f1: 43.3%",
    ]


def test_per_class_results_and_confusion_matrix(tmp_path, capsys):
    ev = evaluator(tmp_path, per_class=True, cmat=True)
    ev.process(SCORES, LABELS)
    results = ev.evaluate()
    assert results["perclass_accuracy"] == pytest.approx((50.0 + 100.0 + 0.0) / 3)
    out = capsys.readouterr().out
    assert "* class: 0 (cat)\ttotal: 2\tcorrect: 1\tacc: 50.0%" in out
    assert "* class: 2 (owl)\ttotal: 1\tcorrect: 0\tacc: 0.0%" in out
    assert "* average: 50.0%" in out
    cmat = torch.load(tmp_path / "cmat.pt", weights_only=True)
    expected = torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.equal(cmat, expected)


def test_reset_and_empty_evaluation(tmp_path):
    ev = evaluator(tmp_path)
    ev.process(SCORES, LABELS)
    ev.reset()
    with pytest.raises(ZeroDivisionError):
        ev.evaluate()


def test_compute_accuracy_top1_top2():
    top1, top2 = compute_accuracy((SCORES, None), LABELS, topk=(1, 2))
    assert top1.item() == 60.0
    assert top2.item() == 80.0  # only the second sample (label 0, scores 0 2 1) misses the top 2


def test_predictions_are_kept_and_written_compactly(tmp_path):
    ev = evaluator(tmp_path)
    ev.process(SCORES, LABELS)
    targets, preds = ev.predictions()
    assert (targets, preds) == ([0, 0, 1, 1, 2], [0, 1, 1, 1, 0])
    path = write_predictions(str(tmp_path), targets, preds)
    assert path == str(tmp_path / PREDICTIONS_FILE)
    with np.load(path) as stored:
        assert stored["target"].dtype == np.uint8 and stored["pred"].dtype == np.uint8
    back_targets, back_preds = read_predictions(path)
    assert back_targets.tolist() == targets and back_preds.tolist() == preds
    assert sorted(p.name for p in tmp_path.iterdir()) == [PREDICTIONS_FILE]  # no temporary file left
    ev.reset()
    assert ev.predictions() == ([], [])
    with pytest.raises(ValueError, match="3 targets but 2 predictions"):
        write_predictions(str(tmp_path), [1, 2, 3], [1, 2])
