"""Semantic (confusion-matrix mIoU) and referring (cIoU / gIoU) metrics on hand-checked examples."""

import numpy as np
import pytest

from vb_plugins.errors import InputError
from vb_plugins.evaluation import ReferringAccumulator, SemanticAccumulator, confusion_matrix

GT = np.array([[0, 0, 1, 1],
               [2, 2, 255, 1]])
PRED = np.array([[0, 1, 1, 1],
                 [2, 0, 2, -1]])  # -1: a pixel the decoder left unlabeled


def test_confusion_matrix_by_hand():
    matrix = confusion_matrix(PRED, GT, 3, ignore_index=255)
    # rows: gt 0, 1, 2; columns: pred 0, 1, 2, no class. The ignored pixel (pred 2) is not counted.
    assert matrix.tolist() == [[1, 1, 0, 0],
                               [0, 2, 0, 1],
                               [1, 0, 1, 0]]


def test_miou_and_pixel_accuracy_by_hand():
    acc = SemanticAccumulator(["road", "car", "sky"], ignore_index=255)
    acc.add(PRED, GT)
    result = acc.result()
    # road: TP 1, FN 1, FP 1 -> 1/3; car: TP 2, FN 1 (unlabeled), FP 1 -> 1/2; sky: TP 1, FN 1, FP 0 -> 1/2
    assert result["per_class_iou"] == pytest.approx({"road": 1 / 3, "car": 0.5, "sky": 0.5})
    assert result["metrics"]["miou"] == pytest.approx(4 / 9)
    assert result["metrics"]["pixel_accuracy"] == pytest.approx(4 / 7)
    assert result["unlabeled_prediction_pixels"] == 1


def test_dataset_miou_comes_from_one_confusion_matrix():
    acc = SemanticAccumulator(2, ignore_index=None)
    acc.add(np.array([[0, 0]]), np.array([[0, 1]]))   # class 1 missed
    acc.add(np.array([[1, 1, 1]]), np.array([[1, 1, 1]]))
    # summed matrix: gt0 -> [1, 0]; gt1 -> [1, 3]. IoU0 = 1 / 2, IoU1 = 3 / 4.
    assert acc.result()["metrics"]["miou"] == pytest.approx((0.5 + 0.75) / 2)
    # the mean of per-image mIoUs would differ: image 1 (0.5 + 0) / 2, image 2 1.0
    assert np.mean([r["miou_present_classes"] for r in acc.records]) == pytest.approx(0.625)


def test_classes_with_empty_union_are_left_out_but_false_positives_count():
    acc = SemanticAccumulator(["a", "b", "c"], ignore_index=255)
    acc.add(np.array([[0, 1]]), np.array([[0, 0]]))
    result = acc.result()
    assert result["per_class_iou"]["c"] is None      # never in gt nor prediction: no IoU
    assert result["per_class_iou"]["b"] == 0.0       # predicted but absent: IoU 0, counted
    assert result["metrics"]["miou"] == pytest.approx((0.5 + 0.0) / 2)
    assert result["classes_with_union"] == 2


def test_ignore_index_only_image_is_skipped():
    acc = SemanticAccumulator(2)
    assert acc.add(np.zeros((2, 2)), np.full((2, 2), 255), key="void") is None
    assert acc.result()["skipped"] == 1 and acc.result()["metrics"]["miou"] is None


def test_ground_truth_outside_the_classes_is_an_error():
    with pytest.raises(InputError, match="label 7 is outside the 3 classes"):
        SemanticAccumulator(3).add(np.zeros((1, 2)), np.array([[0, 7]]), key="x")


def test_referring_ciou_and_giou_by_hand():
    acc = ReferringAccumulator()
    acc.add(np.array([[1, 1, 0, 0]]), np.array([[0, 1, 1, 1]]))   # I 1, U 4 -> 0.25
    acc.add(np.array([[1, 1, 0, 0]]), np.array([[1, 1, 0, 0]]))   # I 2, U 2 -> 1
    acc.add(np.zeros((1, 4)), np.zeros((1, 4)))                   # empty union -> counts as 1
    result = acc.result()
    assert result["metrics"]["ciou"] == pytest.approx(3 / 6)
    assert result["metrics"]["giou"] == pytest.approx((0.25 + 1 + 1) / 3)
    assert result["empty_union_samples"] == 1


def test_referring_ignore_pixels_are_left_out():
    acc = ReferringAccumulator()
    record = acc.add(np.array([[1, 1, 1]]), np.array([[1, 0, 0]]), ignore=np.array([[0, 0, 1]]))
    assert (record["intersection"], record["union"]) == (1, 2)


def test_referring_ciou_undefined_without_any_union():
    acc = ReferringAccumulator()
    acc.add(np.zeros((2, 2)), np.zeros((2, 2)))
    assert acc.result()["metrics"] == {"ciou": None, "giou": 1.0}
