"""Depth metrics against hand-derived numbers and a separate, plain-Python reference implementation."""

import math

import numpy as np
import pytest

from vb_plugins.errors import InputError
from vb_plugins.evaluation import DepthAccumulator, align_depth, crop_mask, depth_metrics, depth_protocol


def reference_metrics(pred, gt):
    """The Eigen / KITTI metrics written out element by element (BTS compute_errors, SILog as KITTI)."""
    pred, gt = list(map(float, pred)), list(map(float, gt))
    n = len(gt)
    ratios = [max(p / g, g / p) for p, g in zip(pred, gt)]
    d = [math.log(p) - math.log(g) for p, g in zip(pred, gt)]
    return {
        "delta1": sum(r < 1.25 for r in ratios) / n,
        "delta2": sum(r < 1.25 ** 2 for r in ratios) / n,
        "delta3": sum(r < 1.25 ** 3 for r in ratios) / n,
        "abs_rel": sum(abs(p - g) / g for p, g in zip(pred, gt)) / n,
        "sq_rel": sum((p - g) ** 2 / g for p, g in zip(pred, gt)) / n,
        "rmse": math.sqrt(sum((p - g) ** 2 for p, g in zip(pred, gt)) / n),
        "rmse_log": math.sqrt(sum(x * x for x in d) / n),
        "log10": sum(abs(math.log10(p) - math.log10(g)) for p, g in zip(pred, gt)) / n,
        "silog": 100 * math.sqrt(sum(x * x for x in d) / n - (sum(d) / n) ** 2),
    }


def test_metrics_match_hand_derived_values():
    pred, gt = [1.0, 1.2, 3.0, 1.0], [1.0, 1.0, 2.0, 4.0]
    m = depth_metrics(pred, gt)
    # ratios max(p/g, g/p) = 1, 1.2, 1.5, 4
    assert m["delta1"] == 0.5 and m["delta2"] == 0.75 and m["delta3"] == 0.75
    assert m["abs_rel"] == pytest.approx((0 + 0.2 + 0.5 + 0.75) / 4)
    assert m["sq_rel"] == pytest.approx((0 + 0.04 + 0.5 + 2.25) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(10.04 / 4))
    d = [0.0, math.log(1.2), math.log(1.5), -math.log(4)]
    mean_sq = sum(x * x for x in d) / 4
    assert m["silog"] == pytest.approx(100 * math.sqrt(mean_sq - (sum(d) / 4) ** 2))
    assert m["rmse_log"] == pytest.approx(math.sqrt(mean_sq))


def test_metrics_match_reference_on_random_pixels():
    rng = np.random.default_rng(3)
    gt = rng.uniform(0.5, 20, 200)
    pred = gt * rng.lognormal(0, 0.3, 200)
    ours, ref = depth_metrics(pred, gt), reference_metrics(pred, gt)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key


def test_silog_is_zero_for_a_pure_scale_error():
    gt = np.array([1.0, 2.0, 7.0])
    assert depth_metrics(gt * 1.7, gt)["silog"] == pytest.approx(0.0, abs=1e-6)


def test_metrics_are_averaged_over_images_not_pooled():
    acc = DepthAccumulator("none")
    acc.add(np.array([[2.0]]), np.array([[1.0]]), key="a")          # AbsRel 1
    acc.add(np.ones((1, 3)), np.ones((1, 3)), key="b")              # AbsRel 0
    assert acc.result()["metrics"]["abs_rel"] == pytest.approx(0.5)  # pooled over pixels would be 0.25
    assert [r["key"] for r in acc.records] == ["a", "b"]


def test_valid_range_is_strict_and_predictions_are_clipped():
    acc = DepthAccumulator("nyu", crop="none")  # 1e-3 < gt < 10
    gt = np.array([[5.0, 10.0, 12.0, 0.0, np.nan, np.inf]])
    pred = np.array([[20.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    record = acc.add(pred, gt)
    assert record["valid_pixels"] == 1              # only the 5 m pixel
    assert record["abs_rel"] == pytest.approx(1.0)  # 20 m clipped to the 10 m cap: |10 - 5| / 5


def test_nan_and_infinite_predictions_follow_bts():
    acc = DepthAccumulator("nyu", crop="none")
    record = acc.add(np.array([[np.nan, np.inf]]), np.array([[2.0, 5.0]]))
    # NaN -> min (1e-3), +inf -> max (10)
    assert record["abs_rel"] == pytest.approx(((2 - 1e-3) / 2 + (10 - 5) / 5) / 2)


def test_nyu_eigen_crop_ignores_the_border():
    gt = np.full((480, 640), 3.0)
    pred = gt.copy()
    pred[:45] = 9.0          # wrong only outside rows 45:471 / columns 41:601
    pred[:, 601:] = 9.0
    record = DepthAccumulator("nyu").add(pred, gt)
    assert record["valid_pixels"] == (471 - 45) * (601 - 41)
    assert record["abs_rel"] == 0.0


def test_nyu_eigen_crop_needs_the_nyu_resolution():
    with pytest.raises(InputError, match="480 x 640"):
        DepthAccumulator("nyu").add(np.ones((48, 64)), np.ones((48, 64)))


@pytest.mark.parametrize("crop, rows, cols", [("kitti-garg", (153, 371), (44, 1197)),
                                              ("kitti-eigen", (124, 342), (44, 1197)),
                                              ("kitti-benchmark", (23, 375), (13, 1229)),
                                              ("kitti-benchmark-eigen", (140, 344), (56, 1185))])
def test_kitti_crops_as_fractions(crop, rows, cols):
    # 375 x 1242 frame: int(0.40810811 * 375) = 153, int(0.99189189 * 375) = 371, int(0.03594771 * 1242) = 44,
    # int(0.96405229 * 1242) = 1197; Eigen rows int(0.3324324 * 375) = 124, int(0.91351351 * 375) = 342.
    # KB window: top 375 - 352 = 23, left (1242 - 1216) // 2 = 13; Eigen inside it: rows 23 + int(0.3324324 * 352)
    # = 23 + 117, 23 + int(0.91351351 * 352) = 23 + 321; columns 13 + int(0.0359477 * 1216) = 13 + 43, 13 + 1172.
    mask = crop_mask(crop, (375, 1242))
    ys, xs = np.nonzero(mask)
    assert (ys.min(), ys.max() + 1) == rows and (xs.min(), xs.max() + 1) == cols
    assert mask.sum() == (rows[1] - rows[0]) * (cols[1] - cols[0])


def test_presets_record_their_protocol():
    assert depth_protocol("kitti").max_depth == 80 and depth_protocol("kitti").crop == "kitti-garg"
    assert depth_protocol("diode-indoor").mask_required
    assert depth_protocol("nyu", max_depth=8.0).max_depth == 8.0
    with pytest.raises(InputError, match="expected one of"):
        depth_protocol("middlebury")


def test_all_invalid_ground_truth_is_skipped_and_counted():
    acc = DepthAccumulator("none")
    assert acc.add(np.ones((4, 4)), np.zeros((4, 4)), key="empty") is None
    acc.add(np.ones((4, 4)), np.ones((4, 4)), key="ok")
    result = acc.result()
    assert result["images"] == 1 and result["skipped"] == 1
    assert acc.skipped == [{"key": "empty", "reason": "no valid ground-truth pixel"}]


def test_validity_mask_excludes_pixels():
    gt = np.full((2, 2), 2.0)
    pred = np.array([[2.0, 2.0], [2.0, 8.0]])
    mask = np.array([[1, 1], [1, 0]])
    assert DepthAccumulator("none").add(pred, gt, mask=mask)["abs_rel"] == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(InputError, match="prediction is 2 x 3 but ground truth is 3 x 2"):
        DepthAccumulator("none").add(np.ones((2, 3)), np.ones((3, 2)), key="x")


# -- alignment -------------------------------------------------------------------------------------------

GT = np.array([[1.0, 2.0, 3.5], [5.0, 8.0, 0.7]])
VALID = np.ones(GT.shape, bool)


def test_scale_shift_recovers_known_affine_map():
    pred = (GT - 0.5) / 2.0
    aligned, params = align_depth(pred, GT, VALID, "scale-shift")
    assert params["scale"] == pytest.approx(2.0) and params["shift"] == pytest.approx(0.5)
    np.testing.assert_allclose(aligned, GT, rtol=1e-12)


def test_disparity_alignment_recovers_known_map_from_inverse_depth():
    disparity = (1.0 / GT - 0.1) / 3.0
    aligned, params = align_depth(disparity, GT, VALID, "scale-shift-disparity", pred_kind="disparity")
    assert params["scale"] == pytest.approx(3.0) and params["shift"] == pytest.approx(0.1)
    np.testing.assert_allclose(aligned, GT, rtol=1e-9)
    # The same prediction stored as depth (1 / disparity) aligns the same way.
    aligned_depth, _ = align_depth(1.0 / disparity, GT, VALID, "scale-shift-disparity", pred_kind="depth")
    np.testing.assert_allclose(aligned_depth, GT, rtol=1e-9)


@pytest.mark.parametrize("mode, pred, scale", [("scale", GT / 4.0, 4.0), ("median", GT / 2.5, 2.5),
                                               ("log-scale", GT / 3.0, 3.0)])
def test_scale_alignments_recover_known_scale(mode, pred, scale):
    aligned, params = align_depth(pred, GT, VALID, mode)
    assert params["scale"] == pytest.approx(scale)
    np.testing.assert_allclose(aligned, GT, rtol=1e-12)


def test_log_scale_shift_recovers_a_power_law():
    pred = np.exp((np.log(GT) - 0.3) / 2.0)  # ln gt = 2 ln pred + 0.3
    aligned, params = align_depth(pred, GT, VALID, "log-scale-shift")
    assert params["scale"] == pytest.approx(2.0) and params["shift"] == pytest.approx(0.3)
    np.testing.assert_allclose(aligned, GT, rtol=1e-9)


def test_alignment_uses_valid_pixels_only():
    pred = GT / 2.0
    pred[0, 0] = 100.0
    valid = VALID.copy()
    valid[0, 0] = False
    _, params = align_depth(pred, GT, valid, "scale")
    assert params["scale"] == pytest.approx(2.0)


def test_median_scaling_is_ratio_of_medians():
    gt = np.array([[1.0, 2.0, 10.0]])
    pred = np.array([[1.0, 4.0, 5.0]])
    _, params = align_depth(pred, gt, np.ones(gt.shape, bool), "median")
    assert params["scale"] == pytest.approx(2.0 / 4.0)


def test_constant_prediction_aligns_to_the_mean():
    aligned, params = align_depth(np.full(GT.shape, 3.0), GT, VALID, "scale-shift")
    assert params["scale"] == 0.0
    np.testing.assert_allclose(aligned, GT.mean())


def test_accumulator_with_alignment_reports_parameters():
    acc = DepthAccumulator("none", alignment="scale-shift")
    record = acc.add(GT * 0.5 + 0.25, GT)
    assert record["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert record["align_scale"] == pytest.approx(2.0) and record["align_shift"] == pytest.approx(-0.5)
    assert acc.settings()["alignment"] == "scale-shift"


def _marigold_abs_rel(pred, gt, fit_mask, eval_mask, low, high):
    """Marigold's least_square: np.linalg.lstsq of [pred, 1] -> gt on fit_mask, clip, AbsRel on eval_mask."""
    design = np.stack([pred[fit_mask], np.ones(int(fit_mask.sum()))], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, gt[fit_mask], rcond=None)
    aligned = np.clip(pred * scale + shift, low, high)
    return float(np.mean(np.abs(aligned[eval_mask] - gt[eval_mask]) / gt[eval_mask]))


def test_scale_shift_fits_saturated_zero_predictions_as_marigold():
    """A relative [0, 1] map whose near end saturates at 0: Marigold fits every valid pixel, zeros included."""
    from vb_plugins.evaluation import evaluate_pairs

    rng = np.random.default_rng(3)
    gt = np.broadcast_to(np.linspace(0.5, 9.5, 48)[:, None], (48, 64)).copy()
    gt[rng.random(gt.shape) < 0.1] = 0.0                                   # no measurement
    pred = np.clip((gt - 2.0) / 7.0 + rng.normal(0.0, 0.01, gt.shape), 0.0, 1.0)
    valid = (gt > 1e-3) & (gt < 10.0)
    assert 0.1 < np.mean(pred[valid] == 0.0) < 0.3                         # the saturated near end
    report = evaluate_pairs("depth", [("ramp", pred, gt)], alignment="scale-shift", max_depth=10.0)
    expected = _marigold_abs_rel(pred, gt, valid, valid, 1e-3, 10.0)
    assert report["aggregate"]["metrics"]["abs_rel"] == pytest.approx(expected, rel=1e-9)
    # Leaving the zeros out of the fit (the old behaviour) gives a clearly different number.
    without_zeros = _marigold_abs_rel(pred, gt, valid & (pred > 0), valid, 1e-3, 10.0)
    assert abs(without_zeros - expected) > 0.03 * expected
