"""Normal metrics against hand-derived angles and a separate reference."""

import math

import numpy as np
import pytest

from vb_plugins.errors import InputError
from vb_plugins.evaluation import NormalsAccumulator, angular_errors, normal_metrics


def tilted(degrees):
    """Unit vectors tilted from +z towards +x by the given angles, as a 1 x N x 3 image."""
    radians = np.radians(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.sin(radians), np.zeros_like(radians), np.cos(radians)], axis=-1)[None]


def facing_camera(n):
    return np.tile([0.0, 0.0, 1.0], (1, n, 1))


def test_summary_of_known_errors():
    m = normal_metrics([0.0, 10.0, 20.0, 45.0])
    assert m["mean"] == pytest.approx(18.75) and m["median"] == pytest.approx(15.0)
    assert m["rmse"] == pytest.approx(math.sqrt((0 + 100 + 400 + 2025) / 4))
    assert (m["within_5"], m["within_7.5"], m["within_11.25"], m["within_22.5"], m["within_30"]) == \
        (25.0, 25.0, 50.0, 75.0, 75.0)


def test_angles_between_constructed_vectors():
    errors = angular_errors(tilted([0, 10, 20, 45]), facing_camera(4))
    np.testing.assert_allclose(errors[0], [0, 10, 20, 45], atol=1e-6)
    # Length does not matter (cosine similarity); a zero prediction counts as 90 degrees.
    assert angular_errors(np.array([0.0, 0.0, 5.0]), np.array([0.0, 0.0, 0.2])) == pytest.approx(0.0, abs=1e-6)
    assert angular_errors(np.zeros(3), np.array([0.0, 0.0, 1.0])) == pytest.approx(90.0)


def test_pooled_and_per_image_differ_as_defined():
    acc = NormalsAccumulator()
    acc.add(tilted([0, 10]), facing_camera(2), key="a")
    acc.add(tilted([40]), facing_camera(1), key="b")
    result = acc.result()
    assert result["pooled"]["mean"] == pytest.approx(50 / 3)       # DSINE: all pixels together
    assert result["pooled"]["median"] == pytest.approx(10.0)
    assert result["per_image"]["mean"] == pytest.approx((5 + 40) / 2)  # Marigold: mean of image means
    assert result["per_image"]["median"] == pytest.approx((5 + 40) / 2)
    assert result["pooled"]["within_11.25"] == pytest.approx(200 / 3)
    assert result["per_image"]["within_11.25"] == pytest.approx((100 + 0) / 2)


def test_ground_truth_convention_is_converted_to_lub():
    # OpenCV / Omnidata normals have y pointing down: their (0, -1, 0) is "up", the camera frame's (0, 1, 0).
    gt_opencv = np.array([[[0.0, -1.0, 0.0], [0.6, 0.0, 0.8]]])
    pred_camera = np.array([[[0.0, 1.0, 0.0], [0.6, 0.0, 0.8]]])
    assert NormalsAccumulator(gt_convention="opencv").add(pred_camera, gt_opencv)["mean"] == pytest.approx(0.0,
                                                                                                             abs=1e-5)
    # Read with the wrong convention the up vector is 180 degrees off.
    assert NormalsAccumulator(gt_convention="camera").add(pred_camera, gt_opencv)["mean"] == pytest.approx(90.0)


def test_prediction_convention_per_image_overrides():
    pred_lub = np.array([[[-0.6, 0.0, 0.8]]])  # LUB flips x relative to the camera frame
    gt_camera = np.array([[[0.6, 0.0, 0.8]]])
    acc = NormalsAccumulator()
    assert acc.add(pred_lub, gt_camera, pred_convention="lub")["mean"] == pytest.approx(0.0, abs=1e-5)


def test_invalid_ground_truth_and_mask_are_excluded():
    gt = np.array([[[0, 0, 1.0], [0, 0, 0.0], [np.nan, 0, 1], [0, 0, 1.0]]])
    pred = np.array([[[0, 0, 1.0], [1, 0, 0.0], [1, 0, 0.0], [1, 0, 0.0]]])
    mask = np.array([[1, 1, 1, 0]])
    record = NormalsAccumulator().add(pred, gt, mask=mask)
    assert record["valid_pixels"] == 1 and record["mean"] == pytest.approx(0.0, abs=1e-6)


def test_zero_predictions_count_as_ninety_degrees_and_are_reported():
    acc = NormalsAccumulator()
    record = acc.add(np.zeros((1, 2, 3)), facing_camera(2))
    assert record["mean"] == pytest.approx(90.0) and record["invalid_prediction_pixels"] == 2
    assert acc.result()["invalid_prediction_pixels"] == 2


def test_all_invalid_ground_truth_is_skipped():
    acc = NormalsAccumulator()
    assert acc.add(facing_camera(3), np.zeros((1, 3, 3)), key="sky") is None
    assert acc.result()["images"] == 0 and acc.result()["skipped"] == 1 and acc.result()["pooled"] is None


def test_histogram_median_stays_within_a_thousandth_of_a_degree():
    rng = np.random.default_rng(0)
    preds = [rng.normal(size=(20, 30, 3)) for _ in range(3)]
    gts = [rng.normal(size=(20, 30, 3)) for _ in range(3)]
    exact, histogram = NormalsAccumulator(), NormalsAccumulator(exact_median_limit=0)
    for p, g in zip(preds, gts):
        exact.add(p, g)
        histogram.add(p, g)
    # Separate reference: arccos of normalised dot products, then numpy's median.
    errors = []
    for p, g in zip(preds, gts):
        cos = np.sum(p * g, -1) / (np.linalg.norm(p, axis=-1) * np.linalg.norm(g, axis=-1))
        errors.append(np.degrees(np.arccos(np.clip(cos, -1, 1))).ravel())
    reference = float(np.median(np.concatenate(errors)))
    assert exact.result()["pooled"]["median"] == pytest.approx(reference, abs=1e-5)  # float32 vectors
    assert exact.result()["pooled_median_method"] == "exact"
    assert histogram.result()["pooled"]["median"] == pytest.approx(reference, abs=1e-3)
    assert histogram.result()["pooled"]["mean"] == pytest.approx(float(np.concatenate(errors).mean()))


def test_bad_shapes_and_conventions_are_errors():
    with pytest.raises(InputError, match="H x W x 3"):
        NormalsAccumulator().add(np.zeros((2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(InputError, match="convention 'sideways'"):
        NormalsAccumulator(gt_convention="sideways")
