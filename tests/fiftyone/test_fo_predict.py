"""The predict operator inside a real FiftyOne (private database), with weightless `paint:` models."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HEIGHT, LEGEND, WIDTH, scene

from vb_plugins.fiftyone_tools.painting import PaintBackend, image_depth


def test_plugin_registers_its_operators(fo):
    from fiftyone.operators.registry import OperatorRegistry

    registry = OperatorRegistry()
    assert [e for e in registry.list_errors() if "vb-plugins" in str(e) or "vb_plugins" in str(e)] == []
    operators = {o.uri: o for o in registry.list_operators()}
    for name in ("predict", "evaluate", "depth_to_3d"):
        uri = f"@vb-plugins/fiftyone/{name}"
        assert uri in operators
        assert operators[uri].config.label.startswith("vb-plugins: ")
        assert operators[uri].config.allow_delegated_execution


def test_depth_lands_as_millimetre_heatmaps_on_the_view_only(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(5)
    view = dataset.match(fo.ViewField("index") < 3)
    result = run_op("predict", view, {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                      "output_dir": str(tmp_path / "out")})
    assert result["predicted"] == 3 and result["skipped_count"] == 0
    dataset.reload()
    for sample in dataset.sort_by("index"):
        if sample.index >= 3:
            assert sample["depth"] is None
            continue
        heatmap = sample.depth
        assert isinstance(heatmap, fo.Heatmap) and heatmap.map is None
        png = heatmap.get_map()
        assert png.dtype == np.uint16 and png.shape == (HEIGHT, WIDTH)
        metres = np.load(heatmap.values_path)
        assert metres.dtype == np.float32 and metres.shape == (HEIGHT, WIDTH)
        # The PNG is millimetres; range is in the PNG's units; metres = png / scale.
        assert heatmap.scale == 1000.0 and heatmap.range == [0, png.max()]
        np.testing.assert_allclose(png / heatmap.scale, metres, atol=0.0006)
        expected = image_depth(scene(sample.index))
        assert np.median(np.abs(metres - expected) / expected) < 0.02
        assert isinstance(sample.depth_confidence, fo.Heatmap)
        assert sample.depth_confidence.get_map().shape == (HEIGHT, WIDTH)
        assert sample.depth_generated.endswith(".png") and heatmap.visualizations == [sample.depth_generated]
    config = dataset.app_config
    assert "depth_generated" in config.media_fields
    assert {"path": "depth", "name": "viridis"} in config.color_scheme.colorscales


def test_semantic_segmentation_sets_mask_targets_and_colours(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(3)
    result = run_op("predict", dataset.view(), {"task": "semantic", "output_field": "seg", "model": "paint:identity",
                                                "classes": LEGEND, "batch_size": 2,
                                                "output_dir": str(tmp_path / "seg")})
    assert result["predicted"] == 3
    dataset.reload()
    assert dataset.mask_targets["seg"] == {1: "sky", 2: "road", 3: "ball", 4: "background"}
    colours = next(f for f in dataset.app_config.color_scheme.fields if f["path"] == "seg")["maskTargetsColors"]
    assert colours[0] == {"intTarget": 1, "color": "#ff0000"}
    for sample in dataset:
        assert isinstance(sample.seg, fo.Segmentation) and sample.seg.mask is None
        mask = sample.seg.get_mask()
        assert mask.shape == (HEIGHT, WIDTH)
        truth = np.select([np.all(scene(sample.index) == c, axis=-1) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))],
                          [1, 2, 3], default=4)
        assert (mask == truth).mean() > 0.97


def test_class_names_get_colours_assigned(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(1)
    run_op("predict", dataset.view(), {"task": "semantic", "output_field": "seg", "model": "paint:tiny",
                                       "classes": "cat, dog", "output_dir": str(tmp_path / "o")})
    dataset.reload()
    assert dataset.mask_targets["seg"] == {1: "cat", 2: "dog"}
    prompted = dataset.info["vb_plugins"]["seg"]["signature"]["spec"]["classes"]
    assert list(prompted) == ["cat", "dog"] and prompted["cat"] != prompted["dog"]


def test_instance_detections_carry_masks(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(2)
    run_op("predict", dataset.view(), {"task": "instance", "output_field": "things", "model": "paint:identity",
                                       "classes": "thing", "output_dir": str(tmp_path / "inst")})
    dataset.reload()
    for sample in dataset:
        detections = sample.things.detections
        assert len(detections) == 3  # sky band, road band and ball: three coloured regions on black
        ball = min(detections, key=lambda d: d.bounding_box[2])
        assert ball.label == "thing" and 0 < ball.confidence <= 1
        mask = ball.get_mask()
        x, y, w, h = ball.bounding_box
        assert mask.shape == (round(h * HEIGHT), round(w * WIDTH))
        assert abs(int(mask.astype(bool).sum()) - np.pi * 18 ** 2) < 0.1 * np.pi * 18 ** 2


def test_referring_mask_and_ensemble_uncertainty(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(2)
    run_op("predict", dataset.view(), {"task": "referring", "output_field": "ball", "model": "paint:identity",
                                       "expression": "the green ball", "colour": "lime", "ensemble": 2,
                                       "output_dir": str(tmp_path / "ref")})
    dataset.reload()
    assert dataset.mask_targets["ball"] == {1: "the green ball"}
    sample = dataset.first()
    mask = sample.ball.get_mask()
    truth = np.all(scene(sample.index) == (0, 255, 0), axis=-1)
    assert (mask.astype(bool) == truth).mean() > 0.98
    assert isinstance(sample.ball_uncertainty, fo.Heatmap) and sample.ball_uncertainty.units == "fraction"


def test_normals_are_an_image_field_the_app_can_show(fo, make_dataset, run_op, tmp_path):
    from PIL import Image

    dataset = make_dataset(1)
    run_op("predict", dataset.view(), {"task": "normals", "output_field": "normals", "model": "paint:normals",
                                       "output_dir": str(tmp_path / "n")})
    dataset.reload()
    sample = dataset.first()
    assert "normals" in dataset.app_config.media_fields
    with Image.open(sample.normals) as image:
        assert image.mode == "RGB" and image.size == (WIDTH, HEIGHT)
    normals = np.load(sample.normals_values_path)
    assert normals.shape == (HEIGHT, WIDTH, 3)
    assert np.allclose(np.linalg.norm(normals, axis=-1), 1, atol=1e-3)
    assert np.mean(normals[..., 2]) > 0.8  # the painted normals face the camera


def test_selected_samples_target(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(4)
    chosen = dataset.skip(2).first().id
    result = run_op("predict", dataset.view(), {"task": "depth", "output_field": "d", "model": "paint:depth",
                                                "target": "SELECTED_SAMPLES", "output_dir": str(tmp_path / "d")},
                    selected=[chosen])
    assert result["predicted"] == 1
    assert dataset.exists("d").values("id") == [chosen]


@pytest.mark.parametrize("params, reason", [
    ({"classes": '{"sky": "notacolour"}'}, "notacolour"),
    ({"classes": '["sky", "sky"]'}, "appears twice"),
    ({"classes": '{"a": "red", "b": "#ff0000"}'}, "share the colour"),
    ({"classes": "sky, road", "colours": {"c_sky": "nope"}}, "nope"),
    ({"classes": '{"sky": "red"'}, "invalid JSON"),
    ({"classes": ""}, "needs classes"),
    ({"classes": "sky", "ensemble": 0}, "ensemble"),
    ({"classes": "sky", "output_field": "bad name"}, "output field"),
])
def test_invalid_classes_and_options_are_rejected_before_anything_runs(fo, make_dataset, params, reason, tmp_path):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionError

    dataset = make_dataset(2)
    loads, images = PaintBackend.loads, PaintBackend.images
    with pytest.raises(ExecutionError, match="Validation error") as caught:
        foo.execute_operator("@vb-plugins/fiftyone/predict", ctx={"view": dataset.view(), "params": {
            "task": "semantic", "model": "paint:identity", "output_dir": str(tmp_path / "x"), **params}})
    assert reason in str(caught.value)
    assert (PaintBackend.loads, PaintBackend.images) == (loads, images)
    assert not [f for f in dataset.get_field_schema() if f.startswith("vb_")]
    assert not (tmp_path / "x").exists()


def test_existing_fields_are_never_overwritten_without_overwrite(fo, make_dataset, run_op, tmp_path):
    from fiftyone.operators.executor import ExecutionError

    dataset = make_dataset(3)
    truth = {s.id: fo.Heatmap(map=np.full((4, 4), 2.0, np.float32), range=[0, 10]) for s in dataset}
    dataset.set_values("depth", truth, key_field="id")
    params = {"task": "depth", "output_field": "depth", "model": "paint:depth", "output_dir": str(tmp_path / "o")}
    with pytest.raises(ExecutionError, match="was not written by vb-plugins"):
        run_op("predict", dataset.view(), params)
    dataset.reload()
    assert all(s.depth.map is not None and s.depth.map_path is None for s in dataset)
    # Another label type is refused even with overwrite.
    with pytest.raises(ExecutionError, match="holds Heatmap"):
        run_op("predict", dataset.view(), {**params, "task": "semantic", "classes": "a", "overwrite": True})
    result = run_op("predict", dataset.view(), {**params, "overwrite": True})
    assert result["predicted"] == 3
    dataset.reload()
    assert all(s.depth.map is None and s.depth.map_path for s in dataset)
    # A vb-plugins field written with other settings is protected too.
    with pytest.raises(ExecutionError, match=r"other settings \(model\)"):
        run_op("predict", dataset.view(), {**params, "model": "paint:tiny"})


def test_missing_and_unreadable_files_are_skipped_and_reported(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(3, missing=1, corrupt=1)
    result = run_op("predict", dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                                "output_dir": str(tmp_path / "o")})
    assert result["predicted"] == 3 and result["skipped_count"] == 2
    reasons = " ".join(s["reason"] for s in result["skipped"])
    assert "no such file" in reasons and "not a readable image" in reasons
    assert "2 skipped" in result["message"]
    assert dataset.count("depth") == 3


def test_one_prompt_encoding_serves_the_whole_run(fo, make_dataset, tmp_path):
    from vb_plugins.fiftyone_tools import predict_collection

    dataset = make_dataset(9)
    run = predict_collection(dataset.view(), "semantic", "seg", "paint:identity", classes=LEGEND, batch_size=2,
                             write_batch=4, output_dir=tmp_path / "o")
    assert run.predicted == 9 and run.prompt_encodings == 1
    assert run.seconds_generating > 0


def test_tiny_diffusers_pipeline_loaded_by_path(fo, make_dataset, run_op, tmp_path):
    from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline

    path = save_tiny_pipeline("flux2-klein", tmp_path / "klein")
    dataset = make_dataset(2)
    result = run_op("predict", dataset.view(), {"task": "semantic", "output_field": "seg", "model": str(path),
                                                "classes": "sky, road", "steps": 1, "megapixels": 0.005,
                                                "batch_size": 2, "output_dir": str(tmp_path / "o")})
    assert result["predicted"] == 2
    dataset.reload()
    assert all(s.seg.get_mask().shape == (HEIGHT, WIDTH) for s in dataset)
    assert dataset.info["vb_plugins"]["seg"]["settings"]["model"] == str(path)


def test_apply_model(fo, make_dataset, tmp_path):
    from vb_plugins.fiftyone_tools import VBModel

    dataset = make_dataset(3)
    model = VBModel("semantic", "paint:identity", classes=LEGEND, output_dir=tmp_path / "m")
    dataset.apply_model(model, label_field="seg", batch_size=2)
    assert model.mask_targets == {1: "sky", 2: "road", 3: "ball", 4: "background"}
    assert dataset.count("seg") == 3
    assert dataset.first().seg.get_mask().shape == (HEIGHT, WIDTH)
    depth = VBModel("depth", "paint:depth", output_dir=tmp_path / "d", side_fields=True, ensemble=2)
    dataset.apply_model(depth, label_field="vb", batch_size=3)
    sample = dataset.first()
    assert isinstance(sample.vb_depth, fo.Heatmap) and isinstance(sample.vb_uncertainty, fo.Heatmap)
