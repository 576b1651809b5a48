"""Decoding from the prompt itself: every legend form real prompts use, every `vb prompt` dialect, and
images painted the way generators paint (words in their own shades, JPEG)."""

import numpy as np
import pytest

import vb_plugins
from vb_plugins.codecs import instance as instance_codec
from vb_plugins.codecs import referring as referring_codec
from vb_plugins.errors import InputError
from vb_plugins.registry import list_dialects
from vb_plugins.tasks.base import spec_from_dict
from vb_plugins.testing.degrade import gaussian_noise, jpeg

H, W = 96, 128
# Four 40 x 48 blocks on a background; interiors (2 px in from each edge) are scored.
BLOCKS = [(slice(4, 44), slice(8, 56)), (slice(4, 44), slice(72, 120)), (slice(52, 92), slice(8, 56)),
          (slice(52, 92), slice(72, 120))]


def paint(background, *colours, quality=85):
    """A generated-like image: blocks in ``colours`` on ``background``, JPEG-compressed."""
    rgb = np.empty((H, W, 3), np.uint8)
    rgb[:] = background
    for (rows, cols), colour in zip(BLOCKS, colours):
        rgb[rows, cols] = colour
    return jpeg(gaussian_noise(rgb, 2.0), quality) if quality else rgb


def interior(k):
    rows, cols = BLOCKS[k]
    return slice(rows.start + 2, rows.stop - 2), slice(cols.start + 2, cols.stop - 2)


def share(mask, k):
    return float(np.mean(np.asarray(mask)[interior(k)]))


def spec(task, prompt):
    return vb_plugins.get_task(task).make_spec(prompt=prompt)


def decode(task, image, prompt):
    task_object = vb_plugins.get_task(task)
    return task_object.decode(image, task_object.make_spec(prompt=prompt))


# -- every form the issue lists, on painted images -------------------------------------------------------------

def test_represented_by_a_triplet_with_plural_verb():
    text = "The macaron cakes are represented by (255, 255, 0). Everything else is black."
    assert spec("semantic", text).classes == (("macaron cakes", (255, 255, 0)), ("background", (0, 0, 0)))
    labels = decode("semantic", paint((0, 0, 0), (255, 255, 0)), text).values
    assert share(labels == 1, 0) > 0.98 and np.mean(labels[:, :4] == 2) > 0.98


def test_hex_after_a_bare_is():
    text = "The menu is #80C000. The background is white."
    assert spec("semantic", text).classes == (("menu", (128, 192, 0)), ("background", (255, 255, 255)))
    labels = decode("semantic", paint((255, 255, 255), (128, 192, 0)), text).values
    assert share(labels == 1, 0) > 0.98


def test_two_referred_objects_in_colour_words_give_one_mask_each():
    text = "The stretching cat is rendered in green, the cat that is cleaning itself is in cyan."
    made = spec("referring", text)
    assert made.class_names == ["the stretching cat", "the cat that is cleaning itself"]
    # Generators paint "green" as (0, 255, 0), not CSS green (0, 128, 0).
    decoding = decode("referring", paint((0, 0, 0), (0, 255, 0), (0, 255, 255)), text)
    masks = decoding.masks
    assert masks.shape == (2, H, W)
    assert share(masks[0], 0) > 0.98 and share(masks[1], 1) > 0.98
    assert share(masks[0], 1) == 0 and share(masks[1], 0) == 0 and not masks[:, :, :4].any()
    assert decoding.matched["the stretching cat"]["decoded_as"] == [0, 255, 0]


def test_background_as_rgb_function():
    text = "Background is RGB(88, 50, 82). The cat is represented by (255, 0, 0)."
    made = spec("semantic", text)
    assert made.classes == (("background", (88, 50, 82)), ("cat", (255, 0, 0)))
    labels = decode("semantic", paint((88, 50, 82), (255, 0, 0)), text).values
    assert share(labels == 2, 0) > 0.98 and np.mean(labels[:, :4] == 1) > 0.98


def test_background_set_to_a_colour_word_for_instances():
    text = ("Generate an instance segmentation visualization of this image. Each price tag is colored "
            "differently. The background is set to white color.")
    made = spec("instance", text)
    assert made.background == (255, 255, 255) and made.class_names == ["price tag"]
    decoding = decode("instance", paint((255, 255, 255), (230, 25, 75), (60, 180, 75), (0, 130, 200)), text)
    assert decoding.count == 3 and all(share(decoding.values > 0, k) > 0.95 for k in range(3))


def test_json_legend_with_an_xkcd_word():
    text = 'Paint this legend: {"cat": "red", "exit sign": "light purple"}'
    assert spec("semantic", text).classes == (("cat", (255, 0, 0)), ("exit sign", (191, 119, 246)))
    # A generator's light purple: near, not equal to, XKCD's (191, 119, 246).
    labels = decode("semantic", paint((0, 0, 0), (250, 10, 10), (200, 150, 250)), text).values
    assert share(labels == 1, 0) > 0.98 and share(labels == 2, 1) > 0.98


def test_sentence_forms_in_any_order_and_mixed():
    forward = ("The menu is #80C000. The macaron cakes are represented by (255, 255, 0). "
               "Background is RGB(88, 50, 82).")
    backward = ("Background is RGB(88, 50, 82). The macaron cakes is represented by (255, 255, 0). "
                "The menu is #80C000.")
    image = paint((88, 50, 82), (128, 192, 0), (255, 255, 0))
    for text in (forward, backward):
        made = spec("semantic", text)
        labels = vb_plugins.get_task("semantic").decode(image, made).values
        names = made.class_names
        assert share(labels == names.index("menu") + 1, 0) > 0.98
        assert share(labels == names.index("macaron cakes") + 1, 1) > 0.98
        assert np.mean(labels[:, :4] == names.index("background") + 1) > 0.98


@pytest.mark.parametrize("text, task, expected", [
    ("cat: red\nsky = #87ceeb\nroad: (128, 64, 128), tree in <0, 128, 0>", "semantic",
     {"classes": (("cat", (255, 0, 0)), ("sky", (135, 206, 235)), ("road", (128, 64, 128)), ("tree", (0, 128, 0)))}),
    ("The cars are painted in blue and the road is colored gray.", "semantic",
     {"classes": (("cars", (0, 0, 255)), ("road", (128, 128, 128)))}),
    ("The cat, which is cleaning itself, is in cyan.", "referring",
     {"expression": "the cat, which is cleaning itself", "colour": (0, 255, 255)}),
    ("Paint the cup in the sink in this photo solid yellow and everything else solid black.", "referring",
     {"expression": "the cup in the sink", "colour": (255, 255, 0), "background": (0, 0, 0)}),
    ("The exit sign is #40FFC.", "referring", {"expression": "the exit sign", "colour": (64, 255, 204)}),
    ("The cat is represented by (255, 0, 0) and the dog by rgba(0, 0, 255, 0.5).", "semantic",
     {"classes": (("cat", (255, 0, 0)), ("dog", (0, 0, 255)))}),
    ("rainbow (black-red-yellow-green-cyan-blue-violet-white)", "depth", {"scheme": None}),
    ("Generate a metric depth map of the input image. Visualized in the plasma color palette.", "depth",
     {"scheme": "plasma"}),
])
def test_more_forms(text, task, expected):
    made = spec(task, text)
    for field, value in expected.items():
        assert getattr(made, field) == value, (field, made)


def test_the_vision_banana_path_is_recognised_by_its_colours():
    from vb_plugins.prompt_schemes import _scheme_by_colours
    from vb_plugins.registry import list_schemes

    schemes = list_schemes()
    assert _scheme_by_colours("rainbow (black-red-yellow-green-cyan-blue-violet-white)", schemes) == "vision-banana"
    zero_shot = vb_plugins.get_task("depth").prompt(None, "zero-shot")
    assert _scheme_by_colours(zero_shot, schemes) == "vision-banana"
    assert _scheme_by_colours("A red car and a blue bus on a green lawn.", schemes) is None


# -- every dialect round-trips ---------------------------------------------------------------------------------

ROUND_TRIP = {
    "semantic": [{"classes": {"cat": "red", "cat ears": "<255, 165, 1>", "exit sign": "light purple",
                              "background": "yellow"}},
                 {"classes": "cat, dog, sky"},
                 {"classes": {"menu": "#80C000", "macaron cakes": "(255, 255, 0)", "shop window": "navy"}}],
    "instance": [{"classes": "price tag"}, {"classes": "price tag", "background": "white"}, {}],
    "referring": [{"expression": "the game control device", "colour": "yellow"},
                  {"expression": "stretching cat", "colour": "(10, 200, 30)", "background": "light purple"},
                  {"expression": "the cup in the sink"},
                  # several referred objects, one colour each (one mask each)
                  {"classes": {"the stretching cat": "green", "the cat that is cleaning itself": "cyan",
                               "dog": "<200, 30, 40>"}, "background": "white"}],
    "depth": [{}, {"scheme": "plasma"}, {"scheme": "gray"}],
    "normals": [{}],
}


def legend(task, made):
    """What a spec tells a decoder (defaults filled in)."""
    background = made.background or {"instance": instance_codec.DEFAULT_BACKGROUND,
                                      "referring": referring_codec.DEFAULT_BACKGROUND}.get(task)
    colour = made.colour or (referring_codec.DEFAULT_COLOUR if task == "referring" else None)
    return made.classes, made.expression, colour, background, made.scheme or "vision-banana", made.options


@pytest.mark.parametrize("dialect", list_dialects())
def test_every_prompt_vb_prompt_writes_parses_back_to_the_same_legend(dialect):
    checked = 0
    for task_name, option_sets in ROUND_TRIP.items():
        task = vb_plugins.get_task(task_name)
        for options in option_sets:
            made = task.make_spec(**options)
            text = task.prompt(made, dialect)
            assert legend(task_name, task.make_spec(prompt=text)) == legend(task_name, made), text
            checked += 1
    assert checked == sum(len(v) for v in ROUND_TRIP.values())


def test_colour_words_survive_the_prompt_and_the_record():
    made = vb_plugins.get_task("semantic").make_spec(classes={"cat": "green", "exit sign": "light purple",
                                                             "sky": "(135, 206, 235)"})
    assert dict(made.colour_words) == {(0, 128, 0): "green", (191, 119, 246): "light purple"}
    assert '"exit sign": "light purple"' in vb_plugins.get_task("semantic").prompt(made)
    assert spec_from_dict(made.to_dict()) == made
    back = vb_plugins.get_task("semantic").make_spec(prompt=vb_plugins.get_task("semantic").prompt(made))
    assert back.classes == made.classes
    # The prompt names the exact sky colour "skyblue" (its CSS name): read back, that is a word too.
    assert dict(back.colour_words) == {**dict(made.colour_words), (135, 206, 235): "skyblue"}


# -- what cannot be read ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("task, text, quoted", [
    ("semantic", "The cat is rendered in blurplish.", "'The cat is rendered in blurplish'"),
    ("semantic", "The cat is represented by (255, 0).", "(255, 0)"),
    ("semantic", "The menu is #40FF.", "#40FF"),
    ("semantic", '{"cat": "red", "dog": "glorp"}', "glorp"),
    ("semantic", "Use (255, 0, 0) wisely.", "Use (255, 0, 0) wisely"),
    ("semantic", "Generate a semantic segmentation of the photo.", "Generate a semantic segmentation"),
    ("referring", "This image shows segmentation masks from the given image.", "This image shows"),
    ("depth", "Generate a depth map. Visualized in the turbo color palette.", "turbo"),
    ("semantic", "The cat is red. The cat is blue.", "'cat' is given two colours"),
])
def test_a_prompt_that_cannot_be_read_is_one_line_that_quotes_the_part(task, text, quoted):
    with pytest.raises(InputError) as info:
        spec(task, text)
    message = str(info.value)
    assert message.startswith("prompt") and quoted in message and "\n" not in message


def test_prose_around_the_legend_is_ignored():
    text = ("This image is a per-pixel class labeling of the input, made carefully. The cat is in the kitchen "
            "and sleeping. The cat is represented by (255, 0, 0).")
    assert spec("semantic", text).classes == (("cat", (255, 0, 0)),)


def test_the_prompt_and_legend_options_exclude_each_other():
    with pytest.raises(InputError, match="the legend comes from the prompt"):
        vb_plugins.get_task("semantic").make_spec(prompt="The cat is red.", classes="cat")
    assert vb_plugins.get_task("semantic").make_spec(prompt="The cat is red.", tolerance=40).option("tolerance") == 40
