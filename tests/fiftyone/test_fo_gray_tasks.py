"""Relative depth and alpha mattes in a real FiftyOne (private database): heatmaps that say what they hold,
a thresholded Segmentation for mattes, and metres from a field of sparse known depths."""

from __future__ import annotations

import numpy as np
import pytest

HEIGHT, WIDTH = 112, 144  # the paint backend's generation size: values are not resampled


def gray_scene(index: int) -> np.ndarray:
    """A horizontal gray ramp (left dark, right bright) with a bright square that moves with ``index``."""
    ramp = np.tile(np.linspace(0, 200, WIDTH), (HEIGHT, 1))
    ramp[10:20, 5 + 4 * index:15 + 4 * index] = 255
    return np.repeat(np.rint(ramp).astype(np.uint8)[..., None], 3, axis=2)


@pytest.fixture
def gray_dataset(fo, tmp_path):
    from PIL import Image

    samples = []
    for i in range(3):
        path = tmp_path / f"gray{i}.png"
        Image.fromarray(gray_scene(i)).save(path)
        samples.append(fo.Sample(filepath=str(path), index=i))
    dataset = fo.Dataset()
    dataset.add_samples(samples, progress=False)
    yield dataset
    dataset.delete()


def test_relative_depth_is_a_heatmap_with_its_own_range_that_says_it_is_not_metres(fo, gray_dataset, run_op,
                                                                                     tmp_path):
    result = run_op("predict", gray_dataset.view(), {"task": "relative-depth", "output_field": "rel",
                                                     "model": "paint:identity", "output_dir": str(tmp_path / "rel")})
    assert result["predicted"] == 3 and result["skipped_count"] == 0
    gray_dataset.reload()
    for sample in gray_dataset.sort_by("index"):
        label = sample.rel
        assert isinstance(label, fo.Heatmap)
        values = np.load(label.values_path)
        expected = gray_scene(sample.index)[..., 0] / 255.0
        np.testing.assert_allclose(values, expected, atol=1e-6)  # identity painting: the values are the gray
        png = label.get_map()
        assert png.dtype == np.uint16 and label.scale == 65535.0
        assert label.range == [int(png.min()), int(png.max())] == [0, 65535]
        assert label.units == "relative" and label.relative is True and label.encodes == "inverse"
        assert "not metres" in label.meaning
        np.testing.assert_allclose(png / label.scale, values, atol=1e-5)
    description = gray_dataset.get_field("rel").description
    assert "relative inverse depth" in description and "not metres" in description
    assert gray_dataset.info["vb_plugins"]["rel"]["prompts"] == [
        "Generate relative inverse depth: near points bright, far points dark, matching input pixels."]


def test_matting_is_an_alpha_heatmap_and_a_segmentation_at_the_threshold_given(fo, gray_dataset, run_op,
                                                                                tmp_path):
    result = run_op("predict", gray_dataset.view(), {"task": "matting", "output_field": "matte",
                                                     "model": "paint:identity", "threshold": 0.5,
                                                     "output_dir": str(tmp_path / "matte")})
    assert result["predicted"] == 3
    gray_dataset.reload()
    assert gray_dataset.mask_targets["matte_mask"] == {1: "foreground"}
    assert "above 0.5" in gray_dataset.get_field("matte_mask").description
    for sample in gray_dataset.sort_by("index"):
        alpha = np.load(sample.matte.values_path)
        assert isinstance(sample.matte, fo.Heatmap) and sample.matte.units == "alpha"
        assert sample.matte.range == [0, 65535]
        mask = sample.matte_mask
        assert isinstance(mask, fo.Segmentation) and mask.threshold == 0.5
        np.testing.assert_array_equal(mask.get_mask(), (alpha > 0.5).astype(np.uint8))
        assert mask.get_mask().sum() == ((gray_scene(sample.index)[..., 0] / 255.0) > 0.5).sum() > 0


def test_matting_without_a_threshold_writes_no_segmentation(fo, gray_dataset, run_op, tmp_path):
    run_op("predict", gray_dataset.view(), {"task": "matting", "output_field": "alpha", "model": "paint:identity",
                                            "output_dir": str(tmp_path / "alpha")})
    gray_dataset.reload()
    assert "alpha_mask" not in gray_dataset.get_field_schema()
    assert isinstance(gray_dataset.first().alpha, fo.Heatmap)


def test_a_bad_threshold_is_reported_on_the_form_field():
    from vb_plugins.fiftyone_tools.params import parse_predict_params

    _, errors = parse_predict_params({"task": "matting", "threshold": 1.5})
    assert errors == {"options": "task 'matting': threshold=1.5 must be in [0, 1) (0: no binary mask)"}
    kwargs, errors = parse_predict_params({"task": "depth", "threshold": 0.5})
    assert not errors and kwargs["ignored"] == ["threshold"]


def test_relative_depth_becomes_metres_from_a_field_of_sparse_known_depths(fo, gray_dataset, run_op, tmp_path):
    run_op("predict", gray_dataset.view(), {"task": "relative-depth", "output_field": "rel",
                                            "model": "paint:identity", "output_dir": str(tmp_path / "rel")})
    gray_dataset.reload()
    truths = {}
    for sample in gray_dataset.iter_samples(autosave=True):
        relative = np.load(sample.rel.values_path).astype(np.float64)
        inverse = 0.1 + 0.8 * relative  # the scene's true inverse depth: 0.1 .. 0.9 per metre
        truths[sample.id] = 1.0 / inverse
        known = np.full(relative.shape, np.nan, np.float32)
        if sample.index != 2:  # the third sample gets a single point: too few for a scale and a shift
            known[5, 3], known[90, 130], known[15, 40] = truths[sample.id][5, 3], truths[sample.id][90, 130], \
                truths[sample.id][15, 40]
        else:
            known[5, 3] = truths[sample.id][5, 3]
        sample["lidar"] = fo.Heatmap(map=known)
    result = run_op("relative_to_metres", gray_dataset.view(), {"relative_field": "rel", "known_field": "lidar",
                                                                "output_dir": str(tmp_path / "metres")})
    assert result["written"] == 2 and len(result["skipped"]) == 1
    assert "1 known point(s); a scale and shift need at least 2" in result["skipped"][0]["reason"]
    gray_dataset.reload()
    for sample in gray_dataset.sort_by("index"):
        label = sample.rel_metres
        if sample.index == 2:
            assert label is None
            continue
        metres = np.load(label.values_path)
        np.testing.assert_allclose(metres, truths[sample.id], rtol=1e-4)
        assert label.fit_space == "inverse-depth" and label.fit_points == 3
        assert label.fit_scale == pytest.approx(0.8, rel=1e-5) and label.fit_shift == pytest.approx(0.1, rel=1e-5)
        assert label.scale == 1000.0 and label.get_map().dtype == np.uint16
    with pytest.raises(Exception, match="already exists"):
        run_op("relative_to_metres", gray_dataset.view(), {"relative_field": "rel", "known_field": "lidar"})


def test_a_relative_depth_field_is_scored_as_depth_only_with_an_alignment(fo, gray_dataset, run_op, tmp_path):
    from vb_plugins.evaluation import EvalSettings
    from vb_plugins.fiftyone_tools.evaluate import evaluate_fields

    run_op("predict", gray_dataset.view(), {"task": "relative-depth", "output_field": "rel",
                                            "model": "paint:identity", "output_dir": str(tmp_path / "rel")})
    gray_dataset.reload()
    for sample in gray_dataset.iter_samples(autosave=True):
        relative = np.load(sample.rel.values_path).astype(np.float64)
        metres = 1.0 / (0.2 + 0.6 * relative)  # an affine map of the painted inverse depth
        sample["gt"] = fo.Heatmap(map=metres.astype(np.float32))
    report = evaluate_fields(gray_dataset.view(), "rel", "gt", settings=EvalSettings(alignment="scale-shift-disparity"))
    assert report["task"] == "depth" and report["protocol"]["prediction_kind"] == "disparity"
    assert report["aggregate"]["images"] == 3 and report["aggregate"]["metrics"]["abs_rel"] < 1e-5
    with pytest.raises(Exception, match="pass an alignment, e.g. --align scale-shift-disparity"):
        evaluate_fields(gray_dataset.view(), "rel", "gt")
