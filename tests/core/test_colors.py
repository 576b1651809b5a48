import numpy as np
import pytest

from vb_plugins.codecs import format_colour, palette, parse_class_colours, parse_colour
from vb_plugins.codecs.colors import rgb_to_lab
from vb_plugins.errors import InputError


@pytest.mark.parametrize("text, rgb", [
    ("red", (255, 0, 0)), (" Light Blue ", (173, 216, 230)), ("#00FF7f", (0, 255, 127)), ("#abc", (170, 187, 204)),
    ("(1, 2, 3)", (1, 2, 3)), ("<255, 128, 0>", (255, 128, 0)), ("RGB(7, 8, 9)", (7, 8, 9)),
    ("rgb(7,8,9)", (7, 8, 9)), ("[10, 20, 30]", (10, 20, 30)), ([4, 5, 6], (4, 5, 6)), ((0, 0, 0), (0, 0, 0)),
])
def test_colour_spellings(text, rgb):
    assert parse_colour(text) == rgb


@pytest.mark.parametrize("bad", ["redish", "#12345", "(1, 2)", "<256, 0, 0>", "RGB(1,2,3,4)", [1, 2], [0.5, 1, 2],
                                 None])
def test_malformed_colours_name_the_input(bad):
    with pytest.raises(InputError) as info:
        parse_colour(bad, "colour of 'cat'")
    assert "colour of 'cat'" in str(info.value) and "\n" not in str(info.value)


def test_format_colour():
    assert format_colour((255, 0, 0), "name") == "red"
    assert format_colour((0, 255, 255), "name") == "cyan"
    assert format_colour((1, 2, 3), "name") == "<1, 2, 3>"
    assert format_colour((1, 2, 3), "hex") == "#010203"


def test_class_legends():
    assert parse_class_colours('{"cat": "red", "dog": "<0, 0, 255>"}') == [("cat", (255, 0, 0)), ("dog", (0, 0, 255))]
    assert parse_class_colours("cat, dog") == [("cat", None), ("dog", None)]
    assert parse_class_colours('["cat"]') == [("cat", None)]
    assert parse_class_colours([("cat", "red")]) == [("cat", (255, 0, 0))]
    for bad, message in [("{cat: red}", "invalid JSON"), ('{"cat": "redd"}', "colour of 'cat'"),
                         ('["cat", "cat"]', "appears twice"), ("", "empty"), ('{"": "red"}', "non-empty")]:
        with pytest.raises(InputError, match=message):
            parse_class_colours(bad)


def test_palette_is_well_separated_and_avoids_the_background():
    colours = palette(12, avoid=["white"])
    assert len(set(colours)) == 12 and (255, 255, 255) not in colours
    lab = rgb_to_lab(np.array(colours + [(255, 255, 255)], np.uint8))
    distances = np.linalg.norm(lab[:, None] - lab[None], axis=-1)[np.triu_indices(13, 1)]
    assert distances.min() > 20  # clearly distinct to a viewer and to a decoder
    assert palette(5) == palette(5)  # deterministic
    assert len(set(palette(60, named=False))) == 60
