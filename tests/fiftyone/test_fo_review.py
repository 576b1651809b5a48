"""The review queue (issue 22): exactly the N lowest-scoring samples, ties broken by filepath then sample
id, tags never duplicated, a saved view in rank order opened in the App, disagreement through the
evaluate operator's per-sample metrics, class filters, and the hand-off to FiftyOne's annotate()."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HEIGHT, LEGEND, WIDTH, scene

from vb_plugins.errors import InputError

MEGAPIXELS = HEIGHT * WIDTH / 1e6
TOTAL = HEIGHT * WIDTH
# white (unlabeled) square side per sample: confidence_mean = 1 - side^2 / TOTAL, with ties
SIDES = [0, 12, 6, 12, 14, 6, 0, 10]
NAMES = ["h", "g", "f", "e", "d", "c", "b", "a"]  # file names run against insertion (sample id) order


def drawn(index: int, side: int, ball: bool = True) -> np.ndarray:
    image = scene(index)
    if not ball:
        image[np.all(image == (0, 255, 0), axis=-1)] = (0, 0, 0)
    image[30:30 + side, 110:110 + side] = (255, 255, 255)
    return image


@pytest.fixture
def queue_dataset(fo, tmp_path, run_op):
    """Samples of SIDES (files named by NAMES), plus a second sample of file "e" (same file, same score),
    with a semantic prediction ``seg`` written by the predict operator."""
    from PIL import Image

    samples = []
    for i, (side, name) in enumerate(zip(SIDES, NAMES)):
        path = tmp_path / f"{name}.png"
        Image.fromarray(drawn(i, side, ball=i != 7)).save(path)
        samples.append(fo.Sample(filepath=str(path), index=i, side=side))
    samples.append(fo.Sample(filepath=str(tmp_path / "e.png"), index=8, side=SIDES[3]))  # duplicate of "e"
    dataset = fo.Dataset()
    dataset.add_samples(samples, progress=False)
    run_op("predict", dataset.view(), {"task": "semantic", "output_field": "seg", "model": "paint:identity",
                                       "classes": LEGEND, "megapixels": MEGAPIXELS, "output_dir": str(tmp_path / "o")})
    dataset.reload()
    yield dataset
    dataset.delete()


def expected_order(dataset) -> list[str]:
    """Sample ids by (confidence from the drawn white square, filepath, insertion order) ascending."""
    rows = list(zip(dataset.values("side"), dataset.values("filepath"), range(len(dataset)), dataset.values("id")))
    return [row[3] for row in sorted(rows, key=lambda r: (1 - r[0] ** 2 / TOTAL, r[1], r[2]))]


def test_queue_takes_exactly_the_n_least_confident_with_ties_by_filepath_then_id(fo, queue_dataset, run_op):
    import fiftyone.operators as foo

    dataset = queue_dataset
    expected = expected_order(dataset)
    executed = foo.execute_operator("@vb-plugins/fiftyone/review_queue",
                                    ctx={"view": dataset.view(), "params": {"field": "seg", "count": 5}})
    result = executed.result
    sides = dict(zip(dataset.values("id"), dataset.values("side")))
    files = dict(zip(dataset.values("id"), dataset.values("filepath")))
    assert [sides[i] for i in result["ids"]] == [14, 12, 12, 12, 10]
    # the three 12s: file "e" twice (the earlier sample first), then "g"
    assert [files[i].rsplit("/", 1)[1] for i in result["ids"][1:4]] == ["e.png", "e.png", "g.png"]
    assert result["ids"] == expected[:5]
    assert result["scores"] == sorted(result["scores"])
    assert result["score_field"] == "seg_confidence_mean" and result["view_name"] == "vb-review: seg"
    assert set(dataset.match_tags("review").values("id")) == set(expected[:5])
    assert dataset.load_saved_view("vb-review: seg").values("id") == expected[:5]  # in rank order
    # the App is told to reload (tags, saved view) and to show the queue
    requests = executed.executor.to_json()["requests"]
    assert [r["operator_uri"] for r in requests] == ["reload_dataset", "set_view"]
    stages = requests[1]["params"]["view"]
    assert [s["_cls"].rsplit(".", 1)[1] for s in stages] == ["Select", "SortBy"]


def test_rerunning_the_queue_does_not_duplicate_tags(fo, queue_dataset, run_op):
    dataset = queue_dataset
    first = run_op("review_queue", dataset.view(), {"field": "seg", "count": 4})
    second = run_op("review_queue", dataset.view(), {"field": "seg", "count": 4})
    assert first["newly_tagged"] == 4 and second["newly_tagged"] == 0
    assert first["ids"] == second["ids"]
    assert dataset.count_sample_tags() == {"review": 4}
    assert all(tags.count("review") == 1 for tags in dataset.match_tags("review").values("tags"))
    assert dataset.list_saved_views() == ["vb-review: seg"]
    # a longer queue adds the next samples and keeps the earlier ones tagged once
    third = run_op("review_queue", dataset.view(), {"field": "seg", "count": 6, "tag": "review"})
    assert third["newly_tagged"] == 2 and dataset.count_sample_tags() == {"review": 6}


def test_most_uncertain_ranks_the_uncertainty_score_highest_first(fo, queue_dataset, run_op):
    dataset = queue_dataset
    ids = dataset.values("id")
    spread = [0.1, 0.5, 0.3, 0.5, 0.0, 0.2, 0.4, 0.05, 0.3]
    dataset.add_sample_field("seg_uncertainty_mean", fo.FloatField)
    dataset.set_values("seg_uncertainty_mean", dict(zip(ids, spread)), key_field="id")
    result = run_op("review_queue", dataset.view(), {"field": "seg", "count": 3, "ranking": "most_uncertain"})
    # 0.5 twice (files g and e: e first), then 0.4
    assert result["ids"] == [ids[3], ids[1], ids[6]] and result["scores"] == [0.5, 0.5, 0.4]


def test_disagreement_with_ground_truth_ranks_by_the_evaluate_metric(fo, queue_dataset, run_op):
    dataset = queue_dataset
    wrong = [0, 300, 50, 0, 900, 120, 10, 0, 0]  # ground-truth pixels relabelled per sample
    for sample, count in zip(dataset.iter_samples(autosave=True), wrong):
        mask = sample.seg.get_mask().copy()
        flat = mask.reshape(-1)
        flat[np.flatnonzero(flat == 4)[:count]] = 1  # background -> sky
        sample["gt"] = fo.Segmentation(mask=mask)
    dataset.mask_targets = {**dataset.mask_targets, "gt": dict(dataset.mask_targets["seg"])}
    dataset.save()
    result = run_op("review_queue", dataset.view(), {"field": "seg", "count": 3, "ranking": "disagreement",
                                                     "other_field": "gt", "tag": "fix"})
    ids = dataset.values("id")
    assert result["score_field"] == "seg_vs_gt_pixel_accuracy" and result["order"] == 1
    assert result["ids"] == [ids[4], ids[1], ids[5]]
    labelled = np.array([TOTAL - side ** 2 for side in dataset.values("side")])  # unlabeled pixels are ignored
    assert result["scores"] == pytest.approx([1 - 900 / labelled[4], 1 - 300 / labelled[1], 1 - 120 / labelled[5]])
    assert dataset.count_sample_tags() == {"fix": 3}


def test_class_filter_keeps_samples_with_the_class(fo, queue_dataset, run_op):
    from fiftyone.operators.executor import ExecutionError

    dataset = queue_dataset
    result = run_op("review_queue", dataset.view(), {"field": "seg", "count": 9, "classes": "ball"})
    indexes = dataset.select(result["ids"]).values("index")
    assert 7 not in indexes and len(result["ids"]) == 8  # sample 7 has no ball
    with pytest.raises(ExecutionError, match=r"classes \['cat'\]: not classes of 'seg'"):
        run_op("review_queue", dataset.view(), {"field": "seg", "classes": "ball, cat"})


def test_bad_requests_are_one_line_errors_that_change_nothing(fo, queue_dataset, run_op):
    from fiftyone.operators.executor import ExecutionError

    dataset = queue_dataset
    for params, message in (({"field": "nope"}, "field: no field 'nope'"),
                            ({"field": "seg", "count": 0}, "count=0"),
                            ({"field": "seg", "ranking": "loudest"}, "ranking 'loudest'"),
                            ({"field": "seg", "ranking": "disagreement"}, "other_field: required"),
                            ({"field": "seg", "ranking": "most_uncertain"}, "no 'seg_uncertainty_mean' field")):
        with pytest.raises(ExecutionError, match=message):
            run_op("review_queue", dataset.view(), params)
    assert dataset.count_sample_tags() == {} and dataset.list_saved_views() == []


def test_label_schema_for_annotation_follows_the_field(fo, queue_dataset, run_op, tmp_path):
    from vb_plugins.fiftyone_tools.annotation import label_schema

    dataset = queue_dataset
    run_op("predict", dataset.view(), {"task": "instance", "output_field": "things", "model": "paint:identity",
                                       "classes": "thing", "output_dir": str(tmp_path / "i")})
    run_op("predict", dataset.limit(1), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                         "output_dir": str(tmp_path / "d")})
    assert label_schema(dataset, "seg") == {"seg": {"type": "segmentation", "mask_targets": {
        1: "sky", 2: "road", 3: "ball", 4: "background"}}}
    assert label_schema(dataset, "things") == {"things": {"type": "instances", "classes": ["thing"]}}
    with pytest.raises(InputError, match="'depth' holds depth values; annotation backends edit"):
        label_schema(dataset, "depth")


def test_annotation_without_a_configured_backend_says_what_to_set(fo, queue_dataset, run_op):
    from fiftyone.operators.executor import ExecutionError

    dataset = queue_dataset
    with pytest.raises(ExecutionError, match="no annotation backend configured: 'cvat' has no credentials; set "
                                        "FIFTYONE_CVAT_USERNAME and FIFTYONE_CVAT_PASSWORD"):
        run_op("review_queue", dataset.view(), {"field": "seg", "count": 2, "annotate": True})
    with pytest.raises(ExecutionError, match="annotation backend 'nowhere': not in FiftyOne's annotation config"):
        run_op("review_queue", dataset.view(), {"field": "seg", "count": 2, "annotate": True,
                                                "annotation_backend": "nowhere"})
    assert dataset.count_sample_tags() == {} and dataset.list_saved_views() == []  # nothing half-done


@pytest.fixture
def recorder_backend(fo):
    import annotation_recorder

    fo.annotation_config.backends["recorder"] = {"config_cls": "annotation_recorder.RecorderBackendConfig"}
    annotation_recorder.RecorderBackend.uploads.clear()
    yield annotation_recorder.RecorderBackend.uploads
    del fo.annotation_config.backends["recorder"]


def test_a_configured_backend_gets_the_queue_through_fiftyone_annotate(fo, queue_dataset, run_op, recorder_backend):
    dataset = queue_dataset
    result = run_op("review_queue", dataset.view(), {"field": "seg", "count": 3, "annotate": True,
                                                     "annotation_backend": "recorder"})
    assert result["anno_key"] == "vb_review_seg"
    [upload] = recorder_backend
    assert upload["ids"] == result["ids"]  # the saved view, in rank order
    assert upload["label_schema"]["seg"]["type"] == "segmentation"
    assert upload["label_schema"]["seg"]["mask_targets"] == {1: "sky", 2: "road", 3: "ball", 4: "background"}
    label_ids = dataset.select(result["ids"], ordered=True).values("seg.id")
    assert upload["id_map"]["seg"] == dict(zip(result["ids"], label_ids))  # the predictions are edited in place
    assert dataset.list_annotation_runs() == ["vb_review_seg"]
    again = run_op("review_queue", dataset.view(), {"field": "seg", "count": 3, "annotate": True,
                                                    "annotation_backend": "recorder"})
    assert again["anno_key"] == "vb_review_seg_2"


def _form(dataset, name, params):
    """The operator's input form as the App resolves it: {property name: property}."""
    import asyncio

    from fiftyone.operators.executor import resolve_type
    from fiftyone.operators.registry import OperatorRegistry

    resolved = asyncio.run(resolve_type(OperatorRegistry(), f"@vb-plugins/fiftyone/{name}",
                                        {"dataset_name": dataset.name, "params": params}))
    assert not hasattr(resolved, "error"), resolved.error
    return resolved.type.properties


def test_the_new_operators_register_and_their_forms_show_choices_and_errors(fo, queue_dataset):
    from fiftyone.operators.registry import OperatorRegistry

    registry = OperatorRegistry()
    assert [e for e in registry.list_errors() if "vb-plugins" in str(e) or "vb_plugins" in str(e)] == []
    uris = {o.uri for o in registry.list_operators()}
    assert {f"@vb-plugins/fiftyone/{n}" for n in ("review_queue", "backfill_scores", "train")} <= uris

    form = _form(queue_dataset, "review_queue", {"field": "seg"})
    assert [c.value for c in form["field"].view.choices] == ["seg"]
    assert "other_field" not in form and not form["field"].invalid
    form = _form(queue_dataset, "review_queue", {"field": "seg", "ranking": "disagreement", "annotate": True})
    assert form["other_field"].invalid and form["other_field"].error_message == \
        "other_field: required to rank by disagreement"
    assert form["annotation_backend"].invalid and "no annotation backend configured" in \
        form["annotation_backend"].error_message
    form = _form(queue_dataset, "backfill_scores", {})
    assert "seg" in [c.value for c in form["field"].view.choices] and form["field"].invalid
    form = _form(queue_dataset, "train", {"semantic_field": "seg", "view_tag": "nobody"})
    assert [c.value for c in form["semantic_field"].view.choices] == ["seg"]
    assert form["fields"].invalid and "tag 'nobody'): no samples" in form["fields"].error_message
