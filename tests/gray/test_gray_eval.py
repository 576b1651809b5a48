"""Scoring relative depth (aligned, as depth) and alpha mattes (SAD, MSE, gradient, connectivity) against
numbers computed by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vb_plugins import get_task
from vb_plugins.cli import main
from vb_plugins.errors import InputError
from vb_plugins.evaluation import EvalSettings, evaluate_pairs
from vb_plugins.evaluation.matting import MattingAccumulator, matting_errors


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# -- matting ------------------------------------------------------------------------------------------------

def test_one_missing_foreground_pixel_costs_what_the_formulas_say():
    gt = np.ones((5, 5))
    pred = gt.copy()
    pred[0, 0] = 0.0
    errors = matting_errors(pred, gt)
    assert errors["sad"] == pytest.approx(1 / 1000)  # one pixel off by 1, in thousands
    assert errors["mse"] == pytest.approx(1 / 25)
    # Connectivity: (0, 0) leaves the shared component at the first threshold, so l = 0 there and 1
    # elsewhere; phi(pred) = 1 - 0, phi(gt) = 1 - (1 - 0) = 0 at (0, 0), equal everywhere else.
    assert errors["connectivity"] == pytest.approx(1 / 1000)
    assert errors["gradient"] > 0
    # A faint ground-truth pixel (0.3) the prediction misses: d = 0.3 >= 0.15 counts, phi(gt) = 0.7 there.
    gt[0, 0] = 0.3
    errors = matting_errors(pred, gt)
    assert errors["sad"] == pytest.approx(0.3 / 1000) and errors["mse"] == pytest.approx(0.09 / 25)
    assert errors["connectivity"] == pytest.approx(0.3 / 1000)


def test_a_constant_offset_has_no_gradient_error_and_a_perfect_matte_no_error_at_all():
    y, x = np.mgrid[0:20, 0:30]
    gt = np.clip((x - 10) / 10.0, 0, 1)
    assert matting_errors(gt, gt) == {"sad": 0.0, "mse": 0.0, "gradient": 0.0, "connectivity": 0.0}
    shifted = matting_errors(np.clip(gt * 0.5 + 0.25, 0, 1), gt * 0.5 + 0.2)
    assert shifted["sad"] == pytest.approx(0.05 * 600 / 1000) and shifted["mse"] == pytest.approx(0.0025)
    assert shifted["gradient"] == pytest.approx(0.0, abs=1e-12)


def test_a_mask_limits_the_scored_pixels_and_an_empty_one_skips_the_image():
    gt = np.zeros((4, 4))
    pred = np.full((4, 4), 0.5)
    accumulator = MattingAccumulator()
    region = np.zeros((4, 4), bool)
    region[:2] = True
    record = accumulator.add(pred, gt, mask=region, key="half")
    assert record["pixels"] == 8 and record["sad"] == pytest.approx(8 * 0.5 / 1000)
    assert accumulator.add(pred, gt, mask=np.zeros((4, 4)), key="none") is None
    assert accumulator.result()["images"] == 1 and accumulator.result()["skipped"] == 1


def test_vb_eval_matting_reads_8_and_16_bit_pngs_and_npy(tmp_path, capsys):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    gt_a = np.zeros((6, 8), np.uint8)
    gt_a[:, 4:] = 255
    Image.fromarray(gt_a).save(gt_dir / "a.png")
    gt_b = np.full((6, 8), 65535, np.uint16)
    Image.fromarray(gt_b).save(gt_dir / "b.png")
    pred_a = gt_a / 255.0
    pred_a[0, 0] = 0.2  # SAD 0.2, MSE 0.04 / 48
    pred_b = np.full((6, 8), 0.9)  # SAD 48 * 0.1, MSE 0.01
    np.save(pred_dir / "a.matting.npy", pred_a.astype(np.float32))
    np.save(pred_dir / "b.matting.npy", pred_b.astype(np.float32))
    code, out, err = run(capsys, "eval", "matting", "--pred", pred_dir, "--gt", gt_dir, "-o", tmp_path / "r.json")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    per_image = {r["key"]: r for r in report["per_image"]}
    assert per_image["a"]["sad"] == pytest.approx(0.2 / 1000, rel=1e-6)
    assert per_image["a"]["mse"] == pytest.approx(0.04 / 48, rel=1e-6)
    assert per_image["b"]["sad"] == pytest.approx(4.8 / 1000, rel=1e-6)
    assert per_image["b"]["mse"] == pytest.approx(0.01, rel=1e-5)
    assert report["aggregate"]["metrics"]["sad"] == pytest.approx((0.2 + 4.8) / 2000, rel=1e-6)
    assert "SAD (/1000)" in out and "connectivity (/1000)" in out


# -- relative depth, aligned ---------------------------------------------------------------------------------

def scene():
    y, x = np.mgrid[0:24, 0:32]
    metres = 1.0 + 4.0 * x / 31.0 + 0.5 * y / 23.0
    inverse = 1.0 / metres
    relative = (inverse - inverse.min()) / (inverse.max() - inverse.min())
    return relative.astype(np.float32), metres


def write_relative(directory, stem, values, encodes="inverse"):
    directory.mkdir(exist_ok=True)
    np.save(directory / f"{stem}.relative-depth.npy", values)
    record = {"task": "relative-depth", "spec": {"task": "relative-depth", "options": {"encodes": encodes}},
              "settings": {}, "prompts": []}
    (directory / f"{stem}.json").write_text(json.dumps(record))


def test_vb_eval_depth_scores_relative_inverse_depth_with_disparity_alignment(tmp_path, capsys):
    relative, metres = scene()
    write_relative(tmp_path / "pred", "room", relative)
    (tmp_path / "gt").mkdir()
    np.save(tmp_path / "gt" / "room.npy", metres)
    code, out, err = run(capsys, "eval", "depth", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt",
                         "--align", "scale-shift-disparity", "-o", tmp_path / "r.json")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["protocol"]["prediction_kind"] == "disparity"  # from the record's encodes=inverse
    metrics = report["aggregate"]["metrics"]
    assert metrics["delta1"] == 1.0 and metrics["abs_rel"] < 1e-5  # an affine map of inverse depth: exact
    assert "prediction disparity" in out


def test_relative_depth_without_an_alignment_is_refused_naming_one(tmp_path, capsys):
    relative, metres = scene()
    write_relative(tmp_path / "pred", "room", relative)
    (tmp_path / "gt").mkdir()
    np.save(tmp_path / "gt" / "room.npy", metres)
    code, _, err = run(capsys, "eval", "depth", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt")
    assert code != 0 and err.strip().count("\n") == 0
    assert "relative-depth predictions are unitless (encodes=inverse): pass an alignment, e.g. --align " \
           "scale-shift-disparity" in err


def test_a_relative_depth_prediction_in_the_depth_encoding_aligns_in_depth():
    from vb_plugins.predict import Predictor
    from vb_plugins.testing.generators import PaintingGenerator

    _, metres = scene()
    relative = (metres - metres.min()) / (metres.max() - metres.min())
    task = get_task("relative-depth")
    spec = task.make_spec(encodes="depth")
    painting = np.repeat(task.encode(relative, spec)[..., None], 3, axis=2)
    prediction = Predictor(task, PaintingGenerator(lambda image, prompt: painting, megapixels=24 * 32 / 1e6),
                           spec=spec).predict([np.zeros((24, 32, 3), np.uint8)])[0]
    assert prediction.values.shape == (24, 32)
    report = evaluate_pairs("depth", [("room", prediction, metres)], EvalSettings(alignment="scale-shift"))
    metrics = report["aggregate"]["metrics"]
    assert metrics["delta1"] == 1.0 and metrics["abs_rel"] < 0.005  # the painting's 8-bit steps, nothing more
    with pytest.raises(InputError, match=r"encodes=depth\): pass an alignment, e.g. --align scale-shift$"):
        evaluate_pairs("depth", [("room", prediction, metres)], EvalSettings())
