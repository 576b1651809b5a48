"""SA-Co pmF1 / IL_MCC / cgF1 on hand-built masks whose IoUs are worked out in the comments."""

import math

import numpy as np
import pytest

from vb_plugins.evaluation import InstanceAccumulator, mask_iou_matrix, matthews

THRESHOLDS = [0.5 + 0.05 * k for k in range(10)]


def strip(*ranges, width=20):
    """A 1 x width mask stack, one mask per [start, stop) range."""
    masks = np.zeros((len(ranges), 1, width), bool)
    for k, (start, stop) in enumerate(ranges):
        masks[k, 0, start:stop] = True
    return masks


def test_iou_matrix_by_hand_and_id_maps_agree_with_stacks():
    gt = strip((0, 10), (10, 20))
    pred = strip((0, 5), (5, 15))
    # (0,5) vs (0,10): 5/10; vs (10,20): 0. (5,15) vs (0,10): 5/15; vs (10,20): 5/15.
    expected = [[0.5, 0.0], [1 / 3, 1 / 3]]
    np.testing.assert_allclose(mask_iou_matrix(pred, gt), expected)
    ids_gt = np.array([[1] * 10 + [2] * 10])
    ids_pred = np.array([[7] * 5 + [9] * 10 + [0] * 5])
    np.testing.assert_allclose(mask_iou_matrix(ids_pred, ids_gt), expected)


def test_hungarian_prefers_the_global_optimum_over_greedy():
    # Overlapping ground truth G1 = [0, 20), G2 = [0, 10); predictions A = [0, 16), B = [5, 20).
    gt = strip((0, 20), (0, 10))
    pred = strip((0, 16), (5, 20))
    # IoU(A,G1) = 16/20 = 0.8, IoU(A,G2) = 10/16 = 0.625, IoU(B,G1) = 15/20 = 0.75, IoU(B,G2) = 5/20 = 0.25.
    # Greedy takes A-G1 (0.8) then B-G2 (0.25): total 1.05. Hungarian takes A-G2 + B-G1: total 1.375.
    acc = InstanceAccumulator()
    record = acc.add(pred, gt)
    assert sorted(record["matched_iou"]) == pytest.approx([0.625, 0.75])
    optimal = [0.625, 0.75]
    greedy = [0.8, 0.25]

    def mean_f1(matched):  # two predictions, two ground truths: F1_t = TP_t / 2
        return float(np.mean([sum(v >= t for v in matched) / 2 for t in THRESHOLDS]))

    assert mean_f1(optimal) == pytest.approx(0.45) and mean_f1(greedy) == pytest.approx(0.35)
    assert acc.result()["metrics"]["pmF1"] == pytest.approx(0.45)
    assert acc.result()["metrics"]["pmF1_50"] == pytest.approx(1.0)  # both matched pairs pass 0.5; greedy: 1 of 2


def test_pmf1_il_mcc_and_cgf1_by_hand():
    one = strip((2, 8))
    elsewhere = strip((12, 18))
    nothing = np.zeros((0, 1, 20), bool)
    acc = InstanceAccumulator()
    acc.add(np.concatenate([one, elsewhere]), one, key="tp+fp")  # TP image: 1 TP, 1 FP
    acc.add(nothing, one, key="missed")                            # FN image: 1 FN
    acc.add(elsewhere, nothing, key="false alarm")                 # FP image: its FP is not in pmF1
    acc.add(nothing, nothing, key="tn1")
    acc.add(np.zeros((1, 20), int), np.zeros((1, 20), int), key="tn2")  # id maps with no instance
    result = acc.result()
    # positive micro: TP 1, FP 1 (positive samples only), FN 1 -> P = 1/2, R = 1/2, F1 = 1/2 at every threshold
    assert result["metrics"]["pmF1"] == pytest.approx(0.5)
    # image level: TP 1, FP 1, TN 2, FN 1 -> (1*2 - 1*1) / sqrt(2 * 2 * 3 * 3) = 1/6
    assert result["image_level"] == {"TP": 1, "FP": 1, "TN": 2, "FN": 1}
    assert result["metrics"]["IL_MCC"] == pytest.approx(1 / 6)
    assert result["metrics"]["cgF1"] == pytest.approx(100 * 0.5 / 6)
    assert result["il_mcc_defined"]


def test_matthews_by_formula():
    assert matthews(3, 1, 4, 2) == pytest.approx((3 * 4 - 1 * 2) / math.sqrt(4 * 5 * 5 * 6))
    assert matthews(5, 0, 0, 0) == 0.0  # undefined without negatives: 0, as the official evaluator


def test_only_positive_samples_give_zero_cgf1_but_report_pmf1():
    acc = InstanceAccumulator()
    acc.add(strip((0, 10)), strip((0, 10)))
    result = acc.result()
    assert result["metrics"]["pmF1"] == pytest.approx(1.0)
    assert result["metrics"]["IL_MCC"] == 0.0 and not result["il_mcc_defined"]


def test_oracle_keeps_the_best_annotation():
    pred = strip((0, 10))
    far, close = strip((12, 20)), strip((0, 9))
    acc = InstanceAccumulator()
    record = acc.add(pred, [far, close])
    assert record["oracle_choice"] == 1 and record["tp_at_50"] == 1
    # An annotation that makes the sample a true negative wins (official _select_best_scoring).
    acc2 = InstanceAccumulator()
    record = acc2.add(np.zeros((0, 1, 20), bool), [close, np.zeros((1, 20), int)])
    assert record["oracle_choice"] == 1 and record["image_level"] == "TN"
