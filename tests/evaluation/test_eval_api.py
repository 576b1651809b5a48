"""The array API adapters call: evaluate_pairs reports, plots, and light imports."""

import json
import subprocess
import sys

import numpy as np
import pytest

from vb_plugins.errors import InputError
from vb_plugins.evaluation import EvalSettings, evaluate_pairs, format_table, plot_report


def test_import_is_light():
    code = ("import sys, vb_plugins.evaluation; "
            "print(sorted(m for m in ('fiftyone', 'matplotlib', 'torch', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_depth_pairs_report_is_json_and_records_protocol():
    gt = np.full((2, 3), 4.0)
    report = evaluate_pairs("depth", [("x", gt * 1.1, gt), ("y", gt, gt, np.zeros((2, 3)))], dataset="kitti",
                            crop="none")
    json.dumps(report, allow_nan=False)
    assert report["aggregate"]["images"] == 1 and report["skipped"][0]["key"] == "y"
    assert report["protocol"]["dataset"]["max_depth"] == 80.0
    assert report["aggregate"]["metrics"]["abs_rel"] == pytest.approx(0.1)


def test_semantic_pairs_use_zero_based_labels():
    report = evaluate_pairs("semantic", [("k", np.array([[0, 1]]), np.array([[0, 1]]))], classes=["a", "b"])
    assert report["aggregate"]["metrics"]["miou"] == 1.0
    assert "a" in format_table(report)


def test_settings_for_another_task_are_rejected():
    with pytest.raises(InputError, match="only for semantic"):
        evaluate_pairs("referring", [], EvalSettings(classes="a,b"))


@pytest.mark.parametrize("task", ["normals", "referring", "instance"])
def test_plots_for_each_task(task, tmp_path):
    if task == "normals":
        pairs = [("n", np.tile([0.0, 0.0, 1.0], (2, 2, 1)), np.tile([0.0, 0.1, 1.0], (2, 2, 1)))]
    elif task == "referring":
        pairs = [("r", np.array([[1, 0]]), np.array([[1, 1]]))]
    else:
        pairs = [("i", np.array([[1, 0]]), np.array([[2, 0]])), ("j", np.zeros((1, 2), int), np.zeros((1, 2), int))]
    report = evaluate_pairs(task, pairs)
    path = plot_report(report, tmp_path / f"{task}.png")
    assert path.stat().st_size > 1000
    with pytest.raises(InputError, match="plots are written as"):
        plot_report(report, tmp_path / "plot.txt")


def _independent_miou(pred, gt, classes):
    ious = []
    for c in range(classes):
        union = np.sum((pred == c) | (gt == c))
        if union:
            ious.append(np.sum((pred == c) & (gt == c)) / union)
    return float(np.mean(ious))


def test_predictor_output_is_read_with_its_own_label_convention():
    """Predictor labels are 1..N with 0 = unlabeled: a Prediction passed whole is scored right; its bare
    values read as 0-based arrays get a warning (and pred_first_label=1 reads them right)."""
    from vb_plugins.evaluation import EvalWarning
    from vb_plugins.predict import Predictor
    from vb_plugins.testing.generators import PaintingGenerator

    classes = {"road": "#ff0000", "car": "#0000ff", "sky": "#ffff00"}
    layout = np.zeros((64, 64), int)
    layout[:32, 32:] = 1
    layout[:16, :32] = 2
    layout[40:48, :] = 1                                          # a band the "model" gets wrong
    colours = np.array([[255, 0, 0], [0, 0, 255], [255, 255, 0]], np.uint8)

    def paint(image, prompt):
        rows = np.arange(image.shape[0]) * 64 // image.shape[0]
        cols = np.arange(image.shape[1]) * 64 // image.shape[1]
        return colours[layout[np.ix_(rows, cols)]]

    predictor = Predictor("semantic", PaintingGenerator(paint), classes=classes)
    prediction = predictor.predict([np.full((64, 64, 3), 100, np.uint8)])[0]
    gt = layout.copy()
    gt[40:48, :] = 0
    assert set(np.unique(prediction.values)) == {1, 2, 3}         # vb predict's labels
    expected = _independent_miou(prediction.values.astype(int) - 1, gt, 3)
    assert expected < 0.9

    report = evaluate_pairs("semantic", [("img", prediction, gt)])   # classes from the prediction
    assert report["aggregate"]["metrics"]["miou"] == pytest.approx(expected)
    assert list(report["aggregate"]["per_class_iou"]) == ["road", "car", "sky"] and "warnings" not in report

    with pytest.warns(EvalWarning, match="hold label 3, the number of classes"):
        shifted = evaluate_pairs("semantic", [("img", prediction.values, gt)], classes=list(classes))
    assert shifted["aggregate"]["metrics"]["miou"] == pytest.approx(
        _independent_miou(prediction.values.astype(int), gt, 3))
    assert shifted["warnings"] and shifted["aggregate"]["metrics"]["miou"] < expected
    right = evaluate_pairs("semantic", [("img", prediction.values, gt)], classes=list(classes), pred_first_label=1)
    assert right["aggregate"]["metrics"]["miou"] == pytest.approx(expected)

    with pytest.raises(InputError, match="predicted with classes"):
        evaluate_pairs("semantic", [("img", prediction, gt)], classes=["car", "road", "sky"])
    with pytest.raises(InputError, match="a semantic prediction cannot be evaluated as depth"):
        evaluate_pairs("depth", [("img", prediction, gt.astype(float))])
