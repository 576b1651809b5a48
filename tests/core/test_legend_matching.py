"""Colour words are matched to what was painted; exact legends decode exactly as before."""

import numpy as np
import pytest

import vb_plugins
from vb_plugins.codecs._modes import decode_mode
from vb_plugins.codecs.legend_matching import LegendEntry, match_entries, painted_colours
from vb_plugins.codecs.referring import ReferringCodec
from vb_plugins.codecs.semantic import SemanticCodec
from vb_plugins.testing.degrade import gaussian_noise, jpeg

H, W = 96, 128


def picture(background, regions, quality=85, noise=2.0):
    rgb = np.empty((H, W, 3), np.uint8)
    rgb[:] = background
    for (rows, cols), colour in regions:
        rgb[rows, cols] = colour
    return jpeg(gaussian_noise(rgb, noise), quality) if quality else rgb


LEFT = (slice(10, 80), slice(10, 60))
RIGHT = (slice(10, 80), slice(70, 120))
INSIDE_LEFT = (slice(13, 77), slice(13, 57))
INSIDE_RIGHT = (slice(13, 77), slice(73, 117))


@pytest.mark.parametrize("painted", [(0, 255, 0), (0, 128, 0)])
def test_a_green_referring_prompt_decodes_either_green_a_generator_paints(painted):
    task = vb_plugins.get_task("referring")
    spec = task.make_spec(prompt="This image shows segmentation masks from the given image. The background is "
                                 "black color. The stretching cat is represented by a solid green.")
    image = picture((0, 0, 0), [(LEFT, painted)])
    decoding = task.decode(image, spec)
    assert decoding.mask[INSIDE_LEFT].mean() > 0.99 and not decoding.mask[:, 64:].any()
    assert decoding.matched["the stretching cat"]["decoded_as"] == list(painted)
    assert decoding.matched["the stretching cat"]["given"] == "green"


def test_an_exact_legend_stays_exact():
    # (0, 128, 0) given as a triplet means that colour, not "a green": painted (0, 255, 0) is not it.
    task = vb_plugins.get_task("referring")
    spec = task.make_spec(expression="the cat", colour="(0, 128, 0)")
    decoding = task.decode(picture((0, 0, 0), [(LEFT, (0, 255, 0))]), spec)
    assert decoding.mask[INSIDE_LEFT].mean() < 0.05 and decoding.matched == {}


@pytest.mark.parametrize("mode", ["exact", "robust"])
@pytest.mark.parametrize("quality", [None, 75])
def test_explicit_rgb_legends_decode_bit_for_bit_as_the_codec_does(mode, quality):
    classes = {"cat": "(250, 20, 20)", "sky": "#87ceeb", "road": "<128, 64, 128>"}
    image = picture((128, 64, 128), [(LEFT, (250, 20, 20)), (RIGHT, (135, 206, 235))], quality, noise=6.0)
    semantic = vb_plugins.get_task("semantic")
    spec = semantic.make_spec(classes=classes)
    with decode_mode(mode):
        ours = semantic.decode(image, spec)
        before = SemanticCodec().decode(image, list(spec.classes))
    for field in ("labels", "distance", "confidence"):
        assert np.array_equal(getattr(ours, field), getattr(before, field))
    referring = vb_plugins.get_task("referring")
    spec = referring.make_spec(expression="the cat", colour="(250, 20, 20)", background="(128, 64, 128)")
    ours, before = referring.decode(image, spec), ReferringCodec((250, 20, 20), (128, 64, 128)).decode(image)
    assert all(np.array_equal(getattr(ours, f), getattr(before, f)) for f in ("mask", "distance", "confidence"))


def test_words_painted_in_their_own_colours_decode_exactly_as_before():
    classes = {"cat": "red", "sky": "skyblue", "road": "yellow"}
    image = picture((255, 255, 0), [(LEFT, (255, 0, 0)), (RIGHT, (135, 206, 235))], quality=90, noise=3.0)
    semantic = vb_plugins.get_task("semantic")
    spec = semantic.make_spec(classes=classes)
    ours, before = semantic.decode(image, spec), SemanticCodec().decode(image, list(spec.classes))
    assert np.array_equal(ours.labels, before.labels) and np.array_equal(ours.confidence, before.confidence)
    assert all(m["decoded_as"] == m["nominal"] for m in ours.matched.values())


def test_matching_is_one_to_one_by_perceptual_distance():
    image = picture((0, 0, 0), [(LEFT, (0, 128, 0)), (RIGHT, (0, 255, 0))])
    semantic = vb_plugins.get_task("semantic")
    # "green" could be either painted green; "lime" is only (0, 255, 0): each takes one.
    spec = semantic.make_spec(classes={"tree": "green", "lawn": "lime", "background": "black"})
    labels = semantic.decode(image, spec).labels
    assert (labels[INSIDE_LEFT] == 1).mean() > 0.99 and (labels[INSIDE_RIGHT] == 2).mean() > 0.99
    # A class the image does not show keeps its colour; it does not take another class's.
    spec = semantic.make_spec(classes={"tree": "green", "sky": "blue", "background": "black"})
    decoding = semantic.decode(picture((0, 0, 0), [(LEFT, (0, 255, 0))]), spec)
    assert decoding.matched["sky"]["painted"] is None and decoding.matched["sky"]["decoded_as"] == [0, 0, 255]
    assert (decoding.labels[INSIDE_LEFT] == 1).mean() > 0.99 and not (decoding.labels == 2).any()


def test_painted_colours_ignore_anti_aliased_rims():
    rgb = picture((0, 0, 0), [(LEFT, (0, 255, 0))], quality=None, noise=0.0)
    rgb[9, 10:60] = rgb[80, 10:60] = (0, 128, 0)  # a one-pixel rim in exactly CSS green
    rgb[10:80, 9] = rgb[10:80, 60] = (0, 128, 0)
    centres, shares = painted_colours(rgb)
    assert len(centres) == 2 and np.allclose(centres[1], (0, 255, 0)) and shares.sum() > 0.9
    [match] = match_entries(rgb, [LegendEntry("cat", (0, 128, 0), "green")])
    assert match.colour == (0, 255, 0)


def test_the_prediction_record_reports_the_colour_each_word_was_matched_to(tmp_path):
    from vb_plugins.predict import Predictor
    from vb_plugins.testing.generators import PaintingGenerator

    def paint(image, prompt):
        out = np.zeros(image.shape, np.uint8)
        out[:, : image.shape[1] // 2] = (0, 255, 0)  # "green", as generators paint it
        return out

    predictor = Predictor("referring", PaintingGenerator(paint), expression="the lawn", colour="green")
    prediction = predictor.predict([np.full((64, 64, 3), 90, np.uint8)])[0]
    [record] = prediction.extras["matched_colours"]
    assert record["the lawn"] == {"given": "green", "nominal": [0, 128, 0], "decoded_as": [0, 255, 0],
                                  "painted": [0, 255, 0], "delta_e": pytest.approx(1.0, abs=0.01),
                                  "share": pytest.approx(0.5, abs=0.05)}
    assert prediction.values[:, :28].all() and not prediction.values[:, 36:].any()


def test_several_referring_objects_are_a_legend_of_their_own():
    task = vb_plugins.get_task("referring")
    spec = task.make_spec(classes={"the left ball": "red", "the right ball": "(0, 0, 255)"})
    assert spec.background is None and spec.expression is None
    image = picture((0, 0, 0), [(LEFT, (255, 0, 0)), (RIGHT, (0, 0, 255))])
    masks = task.decode(image, spec).masks
    assert masks[0][INSIDE_LEFT].all() and masks[1][INSIDE_RIGHT].all() and not (masks[0] & masks[1]).any()
    with pytest.raises(vb_plugins.errors.InputError, match="not both"):
        task.make_spec(classes="the left ball, the right ball", expression="the ball")
