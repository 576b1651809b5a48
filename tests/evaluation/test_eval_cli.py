"""`vb eval` on small directories written here: reports, tables, exit codes and one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image

from vb_plugins.cli import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vb eval: error:")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def depth_dirs(tmp_path):
    """vb-predict-like outputs for two images (+ the files written beside the values) and .npy ground truth."""
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    for stem, factor in (("a", 1.0), ("b", 2.0)):
        truth = np.full((4, 5), 2.0, np.float32)
        np.save(gt / f"{stem}.npy", truth)
        np.save(pred / f"{stem}.depth.npy", truth * factor)
        np.save(pred / f"{stem}.confidence.npy", np.ones((4, 5), np.float32))
        write_png(pred / f"{stem}.depth.png", np.zeros((4, 5, 3), np.uint8))
        write_png(pred / f"{stem}.generated.png", np.zeros((4, 5, 3), np.uint8))
        (pred / f"{stem}.json").write_text(json.dumps({"task": "depth", "spec": {"task": "depth"}}))
    return pred, gt


def test_depth_report_table_and_plot(depth_dirs, tmp_path, capsys):
    pred, gt = depth_dirs
    code, out, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "-o", tmp_path / "r.json",
                         "--plot", tmp_path / "p.png")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    # a: perfect; b: twice too far -> AbsRel 1, delta1 0. Means over the two images:
    assert report["aggregate"]["metrics"]["abs_rel"] == pytest.approx(0.5)
    assert report["aggregate"]["metrics"]["delta1"] == pytest.approx(0.5)
    assert [r["key"] for r in report["per_image"]] == ["a", "b"]
    assert report["per_image"][1]["ground_truth"].endswith("b.npy")
    assert report["protocol"]["alignment"] == "none"
    assert report["protocol"]["dataset"]["name"] == "none"
    assert "AbsRel" in out and "0.5000" in out and "vb eval depth: 2 images" in out
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_depth_alignment_recovers_scale(depth_dirs, capsys):
    pred, gt = depth_dirs
    code, out, _ = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--align", "median", "--per-image")
    assert code == 0
    assert "alignment median" in out
    assert "b\tvalid_pixels=20" in out and "align_scale=0.5000" in out


def test_png_depth_needs_a_scale(tmp_path, capsys):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    np.save(pred / "x.depth.npy", np.full((3, 3), 1.5, np.float32))
    write_png(gt / "x.png", np.full((3, 3), 1500, np.uint16))
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt)
    assert_one_line_error(code, err, "x.png", "--depth-scale")
    code, out, _ = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--depth-scale", "1000")
    assert code == 0 and "AbsRel" in out and "0.0000" in out


def test_image_without_valid_ground_truth_is_skipped_and_counted(depth_dirs, tmp_path, capsys):
    pred, gt = depth_dirs
    np.save(gt / "b.npy", np.zeros((4, 5), np.float32))
    code, out, _ = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "-o", tmp_path / "r.json")
    assert code == 0
    assert "vb eval depth: 1 image (1 skipped: no valid ground-truth pixel)" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["skipped"] == [{"key": "b", "reason": "no valid ground-truth pixel"}]
    assert report["aggregate"]["images"] == 1


def test_nothing_evaluable_is_an_error(depth_dirs, capsys):
    pred, gt = depth_dirs
    for stem in ("a", "b"):
        np.save(gt / f"{stem}.npy", np.zeros((4, 5), np.float32))
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt)
    assert_one_line_error(code, err, "no image could be evaluated", "2 skipped")


def test_missing_ground_truth(depth_dirs, tmp_path, capsys):
    pred, gt = depth_dirs
    (gt / "b.npy").unlink()
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt)
    assert_one_line_error(code, err, "1 of 2 predictions have no ground truth", "(b;", "--skip-missing")
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--skip-missing", "-o", tmp_path / "r.json")
    assert code == 0 and "no ground truth" in err
    assert json.loads((tmp_path / "r.json").read_text())["missing_ground_truth"] == ["b"]


def test_shape_mismatch_error_and_resize(depth_dirs, capsys):
    pred, gt = depth_dirs
    np.save(gt / "a.npy", np.full((8, 10), 2.0, np.float32))
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt)
    assert_one_line_error(code, err, "a: prediction is 4 x 5 but ground truth is 8 x 10", "--resize")
    code, out, _ = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--resize")
    assert code == 0 and "0.5000" in out


def test_options_that_do_not_apply_are_errors(depth_dirs, tmp_path, capsys):
    pred, gt = depth_dirs
    code, _, err = run(capsys, "eval", "semantic", "--pred", pred, "--gt", gt, "--align", "scale")
    assert_one_line_error(code, err, "alignment: only for depth")
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--dataset", "cityscapes")
    assert_one_line_error(code, err, "dataset 'cityscapes' does not apply to depth")
    code, _, err = run(capsys, "eval", "depth", "--pred", tmp_path / "nowhere", "--gt", gt)
    assert_one_line_error(code, err, "prediction directory does not exist")
    (tmp_path / "r.json").write_text("{}")
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "-o", tmp_path / "r.json")
    assert_one_line_error(code, err, "already exists")


def test_semantic_cityscapes_layout(tmp_path, capsys):
    pred, gt = tmp_path / "pred", tmp_path / "gt" / "val" / "frankfurt"
    pred.mkdir()
    labels = np.array([[0, 0, 13, 13], [10, 10, 255, 13]], np.uint8)       # road, car, sky, one ignored
    write_png(gt / "frankfurt_000000_000294_gtFine_labelTrainIds.png", labels)
    predicted = np.array([[1, 1, 14, 14], [11, 0, 3, 14]], np.uint8)       # vb predict: class i -> i + 1
    np.save(pred / "frankfurt_000000_000294_leftImg8bit.semantic.npy", predicted)
    code, out, err = run(capsys, "eval", "semantic", "--pred", pred, "--gt", tmp_path / "gt", "--dataset",
                         "cityscapes", "-o", tmp_path / "r.json", "--plot", tmp_path / "iou.png")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    iou = report["aggregate"]["per_class_iou"]
    # road 2/2, car 3/3, sky: 1 of 2 pixels (the other unlabeled) -> 1/2; other classes absent.
    assert (iou["road"], iou["car"], iou["sky"]) == (1.0, 1.0, 0.5)
    assert iou["person"] is None
    assert report["aggregate"]["metrics"]["miou"] == pytest.approx(2.5 / 3)
    assert report["protocol"]["ignore_index"] == 255
    assert "mIoU" in out and "traffic light" in out
    assert (tmp_path / "iou.png").stat().st_size > 1000


def test_semantic_classes_from_records_and_mismatch(tmp_path, capsys):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    np.save(pred / "s.semantic.npy", np.array([[1, 2]], np.uint8))
    (pred / "s.json").write_text(json.dumps({"spec": {"task": "semantic", "classes": {"cat": [255, 0, 0],
                                                                                       "dog": [0, 0, 255]}}}))
    write_png(gt / "s.png", np.array([[0, 1]], np.uint8))
    code, out, _ = run(capsys, "eval", "semantic", "--pred", pred, "--gt", gt)
    assert code == 0 and "cat" in out and "1.0000" in out
    code, _, err = run(capsys, "eval", "semantic", "--pred", pred, "--gt", gt, "--classes", "dog,cat")
    assert_one_line_error(code, err, "predicted with classes ['cat', 'dog'] but evaluated with ['dog', 'cat']")
    (pred / "s.json").unlink()
    code, _, err = run(capsys, "eval", "semantic", "--pred", pred, "--gt", gt)
    assert_one_line_error(code, err, "needs the class list")
    write_png(gt / "s.png", np.array([[0, 5]], np.uint8))
    code, _, err = run(capsys, "eval", "semantic", "--pred", pred, "--gt", gt, "--classes", "cat,dog")
    assert_one_line_error(code, err, "label 5 is not one of the 2 classes")


def test_normals_use_the_prediction_record_convention(tmp_path, capsys):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    up_camera = np.tile([0.0, 1.0, 0.0], (2, 2, 1)).astype(np.float32)
    np.save(gt / "n.npy", up_camera)
    np.save(pred / "n.normals.npy", up_camera * [1, -1, 1])  # the same vectors in the OpenCV convention
    (pred / "n.json").write_text(json.dumps({"spec": {"task": "normals", "options": {"convention": "opencv"}}}))
    code, out, _ = run(capsys, "eval", "normals", "--pred", pred, "--gt", gt, "-o", tmp_path / "r.json")
    assert code == 0 and "pooled (DSINE)" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["aggregate"]["pooled"]["mean"] == pytest.approx(0.0, abs=1e-4)
    assert report["per_image"][0]["pred_convention"] == "opencv"


def test_referring_masks(tmp_path, capsys):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    write_png(pred / "r1.png", np.array([[255, 255, 0, 0]], np.uint8))
    write_png(gt / "r1.png", np.array([[0, 255, 255, 255]], np.uint8))
    write_png(pred / "r2.png", np.zeros((1, 4), np.uint8))
    write_png(gt / "r2.png", np.zeros((1, 4), np.uint8))
    code, out, _ = run(capsys, "eval", "referring", "--pred", pred, "--gt", gt, "-o", tmp_path / "r.json")
    assert code == 0 and "cIoU" in out and "2 samples" in out
    metrics = json.loads((tmp_path / "r.json").read_text())["aggregate"]["metrics"]
    assert metrics["ciou"] == pytest.approx(1 / 4) and metrics["giou"] == pytest.approx((0.25 + 1) / 2)


def test_instance_ids_with_two_annotations(tmp_path, capsys):
    pred, gt_a, gt_b = tmp_path / "pred", tmp_path / "a", tmp_path / "b"
    pred.mkdir()
    ids = np.array([[1, 1, 0, 2, 2, 0]], np.int32)
    np.save(pred / "img.instance.npy", ids)
    write_png(gt_a / "img.png", np.array([[1, 0, 0, 0, 0, 0]], np.uint8))      # worse annotation
    write_png(gt_b / "img.png", np.array([[3, 3, 0, 7, 7, 0]], np.uint8))      # matches exactly
    write_png(pred / "neg.png", np.zeros((1, 6), np.uint8))
    write_png(gt_a / "neg.png", np.zeros((1, 6), np.uint8))
    write_png(gt_b / "neg.png", np.zeros((1, 6), np.uint8))
    np.save(pred / "neg.instance.npy", np.zeros((1, 6), np.int32))
    code, out, err = run(capsys, "eval", "instance", "--pred", pred, "--gt", gt_a, "--gt", gt_b, "-o",
                         tmp_path / "r.json", "--plot", tmp_path / "f1.png")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["aggregate"]["metrics"]["pmF1"] == pytest.approx(1.0)
    assert report["aggregate"]["image_level"] == {"TP": 1, "FP": 0, "TN": 1, "FN": 0}
    assert report["aggregate"]["metrics"]["cgF1"] == pytest.approx(100.0)
    assert "cgF1" in out
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt_a, "--gt", gt_b)
    assert_one_line_error(code, err, "several ground-truth directories are only for instance")


def test_vb_predict_outputs_evaluate_end_to_end(tmp_path, capsys):
    """A 'perfect' generator painting the encoded ground truth, saved exactly as `vb predict` saves it."""
    import vb_plugins
    from vb_plugins.cli.predict_command import save_prediction
    from vb_plugins.io import write_npy, write_text
    from vb_plugins.io import write_png as save_png
    from vb_plugins.predict import Predictor
    from vb_plugins.testing.generators import PaintingGenerator

    def truth(shape):  # a floor-like ramp from 1 m to 7 m
        rows = np.linspace(0.0, 1.0, shape[0])[:, None]
        return np.broadcast_to(1.0 + 6.0 * rows, shape).astype(np.float32)

    codec = vb_plugins.get_task("depth").codec
    generator = PaintingGenerator(lambda image, prompt: codec.encode(truth(image.shape[:2])))
    images = [np.full((48, 64, 3), 90 + k, np.uint8) for k in range(2)]
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    task = vb_plugins.get_task("depth")
    for k, prediction in enumerate(Predictor("depth", generator).predict(images)):
        save_prediction(prediction, pred, f"img{k}", task, write_npy, save_png, write_text)
        np.save(gt / f"img{k}.npy", truth((48, 64)))
    code, out, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "-o", tmp_path / "r.json")
    assert code == 0, err
    metrics = json.loads((tmp_path / "r.json").read_text())["aggregate"]["metrics"]
    assert metrics["delta1"] == 1.0 and metrics["abs_rel"] < 0.02


def test_kitti_benchmark_crop_as_marigold(tmp_path, capsys):
    """KITTI as Marigold: the 352 x 1216 KB window (top = H - 352, left = (W - 1216) // 2), then the Eigen
    crop inside it; a prediction made on the cropped image and one of the full frame score the same."""
    rng = np.random.default_rng(18)
    height, width = 375, 1242
    truth = np.round(rng.uniform(2.0, 70.0, (height, width)) * 256).astype(np.uint16)
    truth[rng.random((height, width)) < 0.7] = 0                           # sparse lidar
    gt_m = truth / 256.0
    rows, cols = np.mgrid[0:height, 0:width]
    pred_full = gt_m * (1.0 + 0.002 * (rows % 50) + 0.001 * (cols % 70)) + (gt_m == 0) * 5.0
    top, left = height - 352, (width - 1216) // 2                           # 23, 13
    pred_window = pred_full[top:top + 352, left:left + 1216]
    gt_window = gt_m[top:top + 352, left:left + 1216]
    inside = np.zeros((352, 1216), bool)
    inside[int(0.3324324 * 352):int(0.91351351 * 352), int(0.0359477 * 1216):int(0.96405229 * 1216)] = True
    valid = inside & (gt_window > 1e-5) & (gt_window < 80)
    expected = np.mean(np.abs(np.clip(pred_window[valid], 1e-5, 80) - gt_window[valid]) / gt_window[valid])

    gt = tmp_path / "gt"
    write_png(gt / "0000000005.png", truth)
    for name, pred_values in (("window", pred_window), ("full", pred_full)):
        pred = tmp_path / name
        pred.mkdir()
        np.save(pred / "0000000005.depth.npy", pred_values.astype(np.float32))
        report_path = tmp_path / f"{name}.json"
        code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--dataset", "kitti-marigold",
                           "-o", report_path)
        assert code == 0, err
        report = json.loads(report_path.read_text())
        assert report["per_image"][0]["valid_pixels"] == int(valid.sum())
        assert report["aggregate"]["metrics"]["abs_rel"] == pytest.approx(expected, rel=1e-5)
        assert report["protocol"]["dataset"]["crop"] == "kitti-benchmark-eigen"
    # The same window chosen with --crop on the kitti preset (1e-3 floor: KITTI's PNG steps are 1/256 m).
    code, out, err = run(capsys, "eval", "depth", "--pred", tmp_path / "window", "--gt", gt, "--dataset", "kitti",
                         "--crop", "kitti-benchmark-eigen", "-o", tmp_path / "k.json")
    assert code == 0, err
    assert json.loads((tmp_path / "k.json").read_text())["aggregate"]["metrics"]["abs_rel"] == \
        pytest.approx(expected, rel=1e-5)
    # Ground truth smaller than the window is a one-line error naming the file.
    small = tmp_path / "small"
    write_png(small / "0000000005.png", truth[:300, :1000])
    code, _, err = run(capsys, "eval", "depth", "--pred", tmp_path / "window", "--gt", small, "--dataset",
                       "kitti-marigold")
    assert_one_line_error(code, err, "0000000005.png", "352 x 1216", "only 300 x 1000")


@pytest.fixture
def nyu_layout(tmp_path):
    """NYUv2 as distributed for BTS: rgb_NNNNN.jpg beside sync_depth_NNNNN.png (mm) in scene folders; the
    predictions `vb predict` wrote for the rgb_ images."""
    pred, gt = tmp_path / "pred", tmp_path / "nyu" / "test"
    pred.mkdir()
    rows = np.arange(480)[:, None] + np.zeros((1, 640))
    truth = {}
    for index, scene in ((0, "bathroom"), (1, "kitchen")):
        depth_mm = (1000 + 10 * rows + 1000 * index).astype(np.uint16)     # 1..5.8 m, 2..6.8 m
        truth[index] = depth_mm / 1000.0
        write_png(gt / scene / f"rgb_{index:05d}.jpg", np.zeros((480, 640, 3), np.uint8))
        write_png(gt / scene / f"sync_depth_{index:05d}.png", depth_mm)
        np.save(pred / f"rgb_{index:05d}.depth.npy", (truth[index] * (1.1 + 0.1 * index)).astype(np.float32))
    return pred, gt.parent, truth


def test_nyu_layout_pairs_by_prefix_and_pattern(nyu_layout, tmp_path, capsys):
    pred, gt, truth = nyu_layout
    eigen = (slice(45, 471), slice(41, 601))
    expected = {}
    for index in (0, 1):
        g = truth[index][eigen]
        p = np.load(pred / f"rgb_{index:05d}.depth.npy").astype(np.float64)[eigen]
        keep = (g > 1e-3) & (g < 10)
        expected[index] = np.mean(np.abs(np.clip(p[keep], 1e-3, 10) - g[keep]) / g[keep])
    for pattern in ("sync_depth_{key}.png", "*/sync_*_{key}.png"):
        out_path = tmp_path / f"r{len(pattern)}.json"
        code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--dataset", "nyu",
                           "--strip-prefix", "rgb_", "--gt-pattern", pattern, "-o", out_path)
        assert code == 0, err
        report = json.loads(out_path.read_text())
        assert [r["ground_truth"].rsplit("/", 2)[1:] for r in report["per_image"]] == \
            [["bathroom", "sync_depth_00000.png"], ["kitchen", "sync_depth_00001.png"]]
        assert [r["abs_rel"] for r in report["per_image"]] == pytest.approx([expected[0], expected[1]], rel=1e-6)
        assert report["protocol"]["files"]["strip_prefixes"] == ["rgb_"]


def test_pairing_patterns_that_match_nothing_or_several_files_are_one_line_errors(nyu_layout, capsys):
    pred, gt, _ = nyu_layout
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--dataset", "nyu",
                       "--gt-pattern", "sync_depth_{key}.png")                         # no --strip-prefix
    assert_one_line_error(code, err, "2 of 2 predictions have no ground truth", "sync_depth_{key}.png")
    write_png(gt / "test" / "bathroom" / "raw_depth_00000.png", np.zeros((480, 640), np.uint16))
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--dataset", "nyu",
                       "--strip-prefix", "rgb_", "--gt-pattern", "*depth_{key}.png")
    assert_one_line_error(code, err, "pattern '*depth_{key}.png' matches 2 files for '00000'",
                          "raw_depth_00000.png", "sync_depth_00000.png")
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--gt-pattern", "sync_depth.png")
    assert_one_line_error(code, err, "--gt-pattern 'sync_depth.png': no {key}")
    code, _, err = run(capsys, "eval", "depth", "--pred", pred, "--gt", gt, "--gt-pattern", "sync_{index}.png")
    assert_one_line_error(code, err, "unknown placeholder {index}")


def reference_miou(preds, gts, classes):
    """IoU per class from pixel counts written out (no confusion matrix), mean over classes with a union."""
    ious = []
    for c in range(classes):
        tp = sum(int(np.sum((p == c) & (g == c))) for p, g in zip(preds, gts))
        fp = sum(int(np.sum((p == c) & (g != c))) for p, g in zip(preds, gts))
        fn = sum(int(np.sum((p != c) & (g == c))) for p, g in zip(preds, gts))
        if tp + fp + fn:
            ious.append(tp / (tp + fp + fn))
    return float(np.mean(ious))


@pytest.fixture
def trainid_predictions(tmp_path):
    """Another model's 0-based trainId PNGs (road = 0 covers ~half of each image) and their ground truth."""
    rng = np.random.default_rng(16)
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    truths, preds = [], []
    for k in range(2):
        truth = np.zeros((40, 60), np.uint8)
        truth[:20, 30:] = 1                                         # car
        truth[:10, :30] = 2                                         # sky
        guess = truth.copy()
        wrong = rng.random(truth.shape) < 0.15
        guess[wrong] = rng.integers(0, 3, int(wrong.sum()))
        write_png(gt / f"f{k}.png", truth)
        write_png(pred / f"f{k}.png", guess)
        truths.append(truth.astype(int))
        preds.append(guess.astype(int))
    return pred, gt, preds, truths


def test_zero_based_predictions_without_record_warn_once(trainid_predictions, tmp_path, capsys):
    pred, gt, preds, truths = trainid_predictions
    args = ("eval", "semantic", "--pred", pred, "--gt", gt, "--classes", "road,car,sky")
    code, _, err = run(capsys, *args, "-o", tmp_path / "default.json")
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: label 0 covers"), err
    assert "2 prediction(s) without a vb predict record" in lines[0] and "--pred-first-label 0" in lines[0]
    shares = [np.mean(p == 0) for p in preds]
    assert f"{np.mean(shares):.0%}" in lines[0]
    report = json.loads((tmp_path / "default.json").read_text())
    assert report["warnings"] == [lines[0][len("warning: "):]]
    shifted = reference_miou([p - 1 for p in preds], truths, 3)      # read as vb predict labels
    assert report["aggregate"]["metrics"]["miou"] == pytest.approx(shifted)
    code, _, err = run(capsys, *args, "--pred-first-label", "0", "-o", tmp_path / "zero.json")
    assert code == 0 and err == ""
    report = json.loads((tmp_path / "zero.json").read_text())
    assert report["aggregate"]["metrics"]["miou"] == pytest.approx(reference_miou(preds, truths, 3))
    assert report["aggregate"]["metrics"]["miou"] > shifted + 0.3


def test_vb_predict_records_mark_one_based_labels(trainid_predictions, tmp_path, capsys):
    pred, gt, preds, truths = trainid_predictions
    spec = {"task": "semantic", "spec": {"task": "semantic", "classes": {"road": [128, 64, 128],
                                                                        "car": [0, 0, 142], "sky": [70, 130, 180]}}}
    ours = tmp_path / "ours"
    ours.mkdir()
    labels = []
    for k, guess in enumerate(preds):
        one_based = (guess + 1).astype(np.uint8)
        one_based[:, :12] = 0                                     # 20 % unlabeled: vb predict's 0, no warning
        np.save(ours / f"f{k}.semantic.npy", one_based)
        (ours / f"f{k}.json").write_text(json.dumps(spec))
        labels.append(one_based.astype(int) - 1)
    code, _, err = run(capsys, "eval", "semantic", "--pred", ours, "--gt", gt, "-o", tmp_path / "r.json")
    assert code == 0 and err == ""
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["aggregate"]["metrics"]["miou"] == pytest.approx(reference_miou(labels, truths, 3))
    assert report["protocol"]["files"]["predictions_without_record"] == 0
