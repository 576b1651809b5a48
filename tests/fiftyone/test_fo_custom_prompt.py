"""The predict operator with a custom prompt, in a real FiftyOne: the prompt is painted as given and the
legend (classes and colours, referring objects) is read from it; one it cannot read is refused on the form."""

from __future__ import annotations

import numpy as np
from conftest import BALL, HEIGHT, SKY, WIDTH, scene

from vb_plugins.fiftyone_tools.params import parse_predict_params

# The scenes' colours in words, as a person writes them; "green" is CSS (0, 128, 0) but the ball is painted
# (0, 255, 0): matching finds it.
SEMANTIC = ("The sky is represented by (255, 0, 0). The road is blue. The ball is painted in green. "
            "Everything else is black.")
TWO_OBJECTS = "The background is black. The ball is rendered in green, the sky is in red."


def test_a_custom_prompt_is_painted_and_its_legend_becomes_the_mask_targets(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(2)
    result = run_op("predict", dataset.view(), {"task": "semantic", "output_field": "seg", "model": "paint:identity",
                                                "prompt": SEMANTIC, "output_dir": str(tmp_path / "seg")})
    assert result["predicted"] == 2
    dataset.reload()
    assert dataset.mask_targets["seg"] == {1: "sky", 2: "road", 3: "ball", 4: "background"}
    record = dataset.info["vb_plugins"]["seg"]
    assert record["prompts"] == [SEMANTIC] and record["signature"]["prompt"] == SEMANTIC
    for sample in dataset:
        mask = sample.seg.get_mask()
        truth = np.select([np.all(scene(sample.index) == c, axis=-1) for c in (SKY, (0, 0, 255), BALL)],
                          [1, 2, 3], default=4)
        # The ball too: "green" matched the painted (0, 255, 0). (Painted at the
        # generator's size, then resized: the ball's rim may move by a pixel.)
        assert (mask == truth).mean() > 0.99 and (mask == 0).sum() < 20  # blended rim pixels at most
        assert ((mask == 3) & (truth == 3)).sum() > 0.95 * (truth == 3).sum()


def test_a_prompt_naming_two_objects_gives_one_value_per_object(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(1)
    result = run_op("predict", dataset.view(), {"task": "referring", "output_field": "ref", "model": "paint:identity",
                                                "prompt": TWO_OBJECTS, "output_dir": str(tmp_path / "ref")})
    assert result["predicted"] == 1
    dataset.reload()
    assert dataset.mask_targets["ref"] == {1: "the ball", 2: "the sky"}
    mask = dataset.first().ref.get_mask()
    assert mask.shape == (HEIGHT, WIDTH)
    image = scene(0)
    for value, colour in ((1, BALL), (2, SKY)):
        truth = np.all(image == colour, axis=-1)
        assert ((mask == value) == truth).mean() > 0.99 and ((mask == value) & truth).sum() > 0.95 * truth.sum()
    assert set(np.unique(mask)) == {0, 1, 2}


def test_another_custom_prompt_does_not_resume_the_field(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(1)
    params = {"task": "semantic", "output_field": "seg", "model": "paint:identity", "prompt": SEMANTIC,
              "output_dir": str(tmp_path / "seg")}
    assert run_op("predict", dataset.view(), params)["predicted"] == 1
    reworded = SEMANTIC.replace("is painted in green", "is in green")  # the same legend, another prompt
    kwargs, errors = parse_predict_params({**params, "prompt": reworded})
    assert errors == {}
    from vb_plugins.fiftyone_tools.runner import field_conflict, plan_run, run_signature

    predictor, writer = plan_run(dataset, "semantic", "seg", "paint:identity", prompt=reworded)
    assert predictor.spec == plan_run(dataset, "semantic", "seg", "paint:identity", prompt=SEMANTIC)[0].spec
    conflict = field_conflict(dataset, writer.fields, writer.kind, run_signature(predictor), False)
    assert conflict is not None and "prompt" in conflict


def test_an_unreadable_prompt_is_a_form_error_quoting_the_part(fo):
    _, errors = parse_predict_params({"task": "semantic", "prompt": "The cat is red. The dog is rendered in "
                                                                    "blurplish."})
    assert set(errors) == {"prompt"}
    assert "'The dog is rendered in blurplish'" in errors["prompt"] and "\n" not in errors["prompt"]
    _, errors = parse_predict_params({"task": "semantic", "prompt": SEMANTIC, "classes": "cat, dog"})
    assert set(errors) == {"prompt"} and "the legend comes from the prompt" in errors["prompt"]
    kwargs, errors = parse_predict_params({"task": "referring", "prompt": TWO_OBJECTS})
    assert errors == {} and kwargs["prompt"] == TWO_OBJECTS  # no expression needed: the prompt names them


def test_the_form_takes_a_custom_prompt_instead_of_classes_and_marks_an_unreadable_one(fo, make_dataset):
    import fiftyone.operators as foo
    from fiftyone.operators.registry import OperatorRegistry

    dataset = make_dataset(1)
    operator = next(o for o in OperatorRegistry().list_operators() if o.uri == "@vb-plugins/fiftyone/predict")

    def form(params):
        ctx = foo.ExecutionContext(request_params={"dataset_name": dataset.name, "params": params})
        return operator.resolve_input(ctx).type.properties

    plain = form({"task": "semantic"})
    assert "prompt" in plain and plain["classes"].required and not plain["prompt"].invalid
    prompted = form({"task": "semantic", "model": "paint:identity", "prompt": SEMANTIC})
    assert not prompted["classes"].required and not prompted["prompt"].invalid
    referring = form({"task": "referring", "model": "paint:identity", "prompt": TWO_OBJECTS})
    assert not referring["expression"].required
    bad = form({"task": "semantic", "prompt": "The dog is rendered in blurplish."})
    assert bad["prompt"].invalid and "'The dog is rendered in blurplish'" in bad["prompt"].error_message
