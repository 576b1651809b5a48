"""Issue 23 in FiftyOne: ``F_confidence`` holds the reliability; ``F_expected_error`` (metres / degrees) is
stored when asked (``save_expected_error``, off by default), named like the confidence field."""

from __future__ import annotations

import numpy as np
from conftest import HEIGHT, WIDTH


def test_expected_error_heatmaps_are_optional_and_in_task_units(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(2)
    run_op("predict", dataset.view(), {"task": "depth", "output_field": "plain", "model": "paint:depth",
                                       "output_dir": str(tmp_path / "plain")})
    run_op("predict", dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                       "save_expected_error": True, "output_dir": str(tmp_path / "depth")})
    run_op("predict", dataset.view(), {"task": "normals", "output_field": "normals", "model": "paint:normals",
                                       "save_expected_error": True, "output_dir": str(tmp_path / "normals")})
    dataset.reload()
    schema = dataset.get_field_schema()
    assert "plain_expected_error" not in schema and "plain_confidence" in schema
    for sample in dataset:
        heatmap = sample.depth_expected_error
        assert isinstance(heatmap, fo.Heatmap) and heatmap.units == "m" and heatmap.scale == 1000.0
        png = heatmap.get_map()
        assert png.dtype == np.uint16 and png.shape == (HEIGHT, WIDTH) and heatmap.range == [0, max(int(png.max()), 1)]
        metres = png / heatmap.scale
        depth = np.load(sample.depth.values_path)
        finite = np.isfinite(depth)
        assert np.median(metres[finite] / depth[finite]) < 0.05  # of the order of a path step, not the depth
        degrees = sample.normals_expected_error
        assert degrees.units == "deg" and degrees.scale == 100.0
        assert 0 < np.median(degrees.get_map() / degrees.scale) <= 180.0
        confidence = sample.depth_confidence.get_map() / sample.depth_confidence.scale
        assert confidence.min() >= 0 and confidence.max() <= 1


def test_label_tasks_get_no_expected_error_field(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(1)
    run_op("predict", dataset.view(), {"task": "referring", "output_field": "ball", "model": "paint:identity",
                                       "expression": "ball", "save_expected_error": True,
                                       "output_dir": str(tmp_path / "ball")})
    dataset.reload()
    schema = dataset.get_field_schema()
    assert "ball_confidence" in schema and "ball_expected_error" not in schema
