"""The evaluate and depth_to_3d operators, and `vb fiftyone install`."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HEIGHT, LEGEND, WIDTH, scene

from vb_plugins.fiftyone_tools.painting import image_depth


def test_evaluate_depth_against_millimetre_ground_truth(fo, make_dataset, run_op, tmp_path):
    from PIL import Image

    dataset = make_dataset(3)
    truth = {}
    for sample in dataset:
        path = tmp_path / f"gt{sample.index}.png"
        Image.fromarray(np.rint(image_depth(scene(sample.index)) * 1000).astype(np.uint16)).save(path)
        truth[sample.id] = fo.Heatmap(map_path=str(path), range=[0, 10000])
    dataset.set_values("gt_depth", truth, key_field="id")
    run_op("predict", dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                       "output_dir": str(tmp_path / "o")})
    result = run_op("evaluate", dataset.view(), {"pred_field": "depth", "gt_field": "gt_depth",
                                                 "gt_depth_scale": 1000, "eval_key": "eval"})
    metrics = result["aggregate"]["metrics"]
    assert result["task"] == "depth" and result["aggregate"]["images"] == 3
    assert metrics["delta1"] > 0.99 and metrics["abs_rel"] < 0.02
    dataset.reload()
    assert dataset.count("eval_abs_rel") == 3
    assert dataset.info["vb_plugins_eval"]["eval"]["task"] == "depth"


def test_evaluate_semantic_matches_classes_by_name(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(2)
    run_op("predict", dataset.view(), {"task": "semantic", "output_field": "seg", "model": "paint:identity",
                                       "classes": LEGEND, "output_dir": str(tmp_path / "o")})
    # Ground truth numbered differently: 7 = ball, 8 = sky, 9 = road, 0 = background.
    truth = {}
    for sample in dataset:
        image = scene(sample.index)
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        for value, colour in ((8, (255, 0, 0)), (9, (0, 0, 255)), (7, (0, 255, 0))):
            mask[np.all(image == colour, axis=-1)] = value
        truth[sample.id] = fo.Segmentation(mask=mask)
    dataset.set_values("gt_seg", truth, key_field="id")
    dataset.mask_targets = {**dataset.mask_targets, "gt_seg": {0: "background", 7: "ball", 8: "sky", 9: "road"}}
    dataset.save()
    result = run_op("evaluate", dataset.view(), {"pred_field": "seg", "gt_field": "gt_seg"})
    assert result["task"] == "semantic"
    assert result["aggregate"]["metrics"]["miou"] > 0.95


def test_evaluate_rejects_unknown_fields_in_the_form(fo, make_dataset, run_op):
    from fiftyone.operators.executor import ExecutionError

    dataset = make_dataset(1)
    with pytest.raises(ExecutionError, match="no field 'nope'"):
        run_op("evaluate", dataset.view(), {"pred_field": "nope", "gt_field": "filepath"})


def test_depth_to_3d_builds_a_grouped_dataset_of_scenes(fo, make_dataset, run_op, tmp_path):
    from vb_plugins.pointcloud import read_ply

    dataset = make_dataset(3)
    run_op("predict", dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                       "output_dir": str(tmp_path / "o")})
    params = {"depth_field": "depth", "dataset_name": f"{dataset.name}-points", "output_dir": str(tmp_path / "3d"),
              "max_points": 5000}
    result = run_op("depth_to_3d", dataset.limit(2), params)
    assert result["added"] == 2 and result["skipped"] == []
    points = fo.load_dataset(params["dataset_name"])
    try:
        assert points.media_type == "group" and sorted(points.group_slices) == ["3d", "image"]
        clouds = points.select_group_slices("3d")
        assert len(clouds) == 2 and clouds.first().filepath.endswith(".fo3d")
        assert clouds.first().media_type == "3d"
        scene_file = fo.core.threed.Scene.from_fo3d(clouds.first().filepath)
        ply = next(iter(scene_file.get_asset_paths()))
        xyz, rgb, _ = read_ply(ply)
        assert len(xyz) == 5000 and rgb is not None and (xyz[:, 2] < 0).all()
        again = run_op("depth_to_3d", dataset.view(), params)
        assert again["added"] == 1 and again["already_done"] == 2
        assert len(points.select_group_slices("3d")) == 3
    finally:
        points.delete()


def test_cli_installs_and_removes_the_plugin(tmp_path):
    from vb_plugins.adapters import adapter_dir
    from vb_plugins.cli import main

    plugins = tmp_path / "plugins"
    assert main(["fiftyone", "install", "--plugins-dir", str(plugins)]) == 0
    link = plugins / "vb-plugins"
    assert link.is_symlink() and link.resolve() == adapter_dir("fiftyone_plugin").resolve()
    assert (link / "fiftyone.yml").read_text().startswith('name: "@vb-plugins/fiftyone"')
    assert main(["fiftyone", "install", "--plugins-dir", str(plugins)]) == 0  # already there
    assert main(["fiftyone", "install", "--plugins-dir", str(plugins), "--copy"]) == 1  # exists
    assert main(["fiftyone", "install", "--plugins-dir", str(plugins), "--copy", "--force"]) == 0
    assert not link.is_symlink() and (link / "__init__.py").is_file()
    assert main(["fiftyone", "uninstall", "--plugins-dir", str(plugins)]) == 0
    assert not link.exists()
