"""The built-in dialects reproduce the published Vision Banana wordings (paper figures, project page)."""

import pytest

import vb_plugins


def prompt(task, dialect=None, **options):
    task = vb_plugins.get_task(task)
    return task.prompt(task.make_spec(**options), dialect)


def test_depth_and_normals_use_the_project_page_wording():
    assert prompt("depth") == "Generate a metric depth map of the input image."
    assert prompt("normals") == "Generate a surface normal map of the input image."
    assert prompt("depth", scheme="plasma").endswith("Visualized in the plasma color palette.")


def test_semantic_json_legend_writes_names_quoted_and_triplets_bare():
    text = prompt("semantic", classes={"cat": "red", "cat ears": "<255, 165, 1>", "background": "yellow"})
    assert text == ('Generate a semantic segmentation visualization image, using this color mapping: '
                    '{"cat": "red", "cat ears": <255, 165, 1>, "background": "yellow"}.')


def test_semantic_sentence_legend():
    text = prompt("semantic", "vision-banana-sentences", classes={"macaron cakes": "(255, 255, 0)"})
    assert text == ("This image is a per-pixel class labeling of the input. "
                    "The macaron cakes is represented by (255, 255, 0).")


def test_instance_and_referring():
    assert prompt("instance", classes="price tag") == (
        "Generate an instance segmentation visualization of this image. Each price tag is colored differently. "
        "The background is set to black color.")
    assert prompt("referring", expression="the game control device", colour="yellow") == (
        "This image shows segmentation masks from the given image. The background is black color. "
        "The game control device is represented by a solid yellow.")


def test_classes_without_colours_get_a_palette_that_avoids_the_background():
    spec = vb_plugins.get_task("instance").make_spec(classes="ball")
    assert spec.classes[0][1] != (0, 0, 0)
    legend = vb_plugins.get_task("semantic").make_spec(classes="cat, dog, sky").classes
    assert len({colour for _, colour in legend}) == 3


@pytest.mark.parametrize("task", ["depth", "normals", "semantic", "instance", "referring"])
def test_zero_shot_dialect_covers_every_builtin_task(task):
    options = {"semantic": {"classes": "cat"}, "referring": {"expression": "the cat"}}.get(task, {})
    text = prompt(task, "zero-shot", **options)
    assert text and text != prompt(task, **options)
