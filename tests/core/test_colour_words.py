"""The colour vocabulary: CSS names, the XKCD survey names, modifiers, and hex as generators read it."""

import pytest
from matplotlib.colors import XKCD_COLORS, to_rgb

from vb_plugins.codecs import parse_colour
from vb_plugins.codecs.colour_words import colour_word, read_hex, resolve_word, suggest, word_readings
from vb_plugins.errors import InputError


def xkcd(name):
    return tuple(round(c * 255) for c in to_rgb(XKCD_COLORS[f"xkcd:{name}"]))


@pytest.mark.parametrize("name", ["light purple", "blurple", "robin's egg blue", "bright green", "pale blue",
                                  "deep blue", "dark green", "purple/pink", "puke green"])
def test_xkcd_survey_names_resolve_to_matplotlibs_table(name):
    rgb = parse_colour(name)
    # CSS wins where both know the name ("dark green" is CSS darkgreen), else the XKCD value.
    assert rgb == (resolve_word(name) or ()) and (rgb == xkcd(name) or rgb == parse_colour(name.replace(" ", "")))


def test_light_purple_is_xkcds_and_css_names_keep_their_css_values():
    assert parse_colour("light purple") == xkcd("light purple") == (191, 119, 246)
    assert parse_colour("Light-Purple") == (191, 119, 246)
    assert parse_colour("green") == (0, 128, 0) and parse_colour(" Light Blue ") == (173, 216, 230)


def test_modifiers_without_a_compound_name_follow_the_documented_rule():
    crimson = parse_colour("crimson")  # (220, 20, 60); no "light crimson" in CSS or XKCD
    assert parse_colour("solid crimson") == crimson
    assert parse_colour("light crimson") == tuple(round(c + (255 - c) * 0.5) for c in crimson)
    assert parse_colour("pale crimson") == tuple(round(c + (255 - c) * 0.7) for c in crimson)
    assert parse_colour("dark crimson") == tuple(round(c * 0.6) for c in crimson)
    assert parse_colour("deep crimson") == tuple(round(c * 0.7) for c in crimson)
    assert parse_colour("bright crimson") == tuple(round(c * 255 / 220) for c in crimson)
    assert parse_colour("solid light purple") == (191, 119, 246)


def test_a_word_lists_every_colour_it_can_mean():
    assert word_readings("green")[:1] == ((0, 128, 0),)  # CSS first: legends that worked keep working
    assert {(0, 255, 0), xkcd("green")} <= set(word_readings("green"))  # painted green, the XKCD survey's
    assert (255, 0, 0) == word_readings("red")[0] and word_readings("no such colour") == ()


def test_colour_word_tells_words_from_exact_spellings():
    assert colour_word(" Light Purple ") == "light purple" and colour_word("green") == "green"
    for exact in ("#00ff00", "(0, 255, 0)", "<0, 255, 0>", "RGB(0, 255, 0)", [0, 255, 0], "glorp"):
        assert colour_word(exact) is None


def test_malformed_hex_is_read_as_a_generator_reads_it_in_prompts_and_refused_with_that_reading_in_legends():
    assert read_hex("#40FFC") == (0x40, 0xFF, 0xCC)  # the lone last digit doubled, like #RGB
    assert read_hex("#40ffc0ff") == (0x40, 0xFF, 0xC0)  # #RRGGBBAA: alpha does not change a painted pixel
    with pytest.raises(InputError, match="#40ffcc"):
        parse_colour("#40FFC")  # typed legends stay strict, and say what to write
    for ambiguous, hint in [("#40FF", "#4400ff"), ("#40FFC00", "#40ffc0"), ("#4", "#RRGGBB"), ("#40FFG0", "'g'")]:
        with pytest.raises(InputError, match=hint) as info:
            read_hex(ambiguous)
        assert ambiguous in str(info.value) and "\n" not in str(info.value)


def test_unknown_words_are_refused_with_the_nearest_name():
    with pytest.raises(InputError, match="did you mean 'blurple'") as info:
        parse_colour("bluurple", "colour of 'sky'")
    assert "colour of 'sky'" in str(info.value) and "not a CSS colour name, an XKCD colour name" in str(info.value)
    assert suggest("light purpel") == "light purple" and suggest("glorp") is None
