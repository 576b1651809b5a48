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
