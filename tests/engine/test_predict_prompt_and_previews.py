"""`vb predict`: readable previews (colour bar / legend) beside the values, a custom prompt whose legend is
read back for decoding, and several referred objects written one mask each, as `vb decode` writes them."""

import json

import matplotlib
import numpy as np
import pytest
from PIL import Image

import vb_plugins.predict
from vb_plugins.cli import main
from vb_plugins.previews import DEPTH_CMAP, depth_preview
from vb_plugins.testing.generators import PaintingGenerator

TWO_CATS = "The stretching cat is rendered in green, the cat that is cleaning itself is in cyan."


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def has_colour(pixels, colour, at_least=20, within=2):
    pixels = np.asarray(pixels).reshape(-1, 3).astype(int)
    return int((np.abs(pixels - colour).max(axis=1) <= within).sum()) >= at_least


def cmap_colour(value):
    return tuple(int(c * 255 + 0.5) for c in matplotlib.colormaps[DEPTH_CMAP](value)[:3])


def save_photo(path, size=(40, 56)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(3).integers(0, 256, size + (3,), dtype=np.uint8)).save(path)
    return path


def two_objects(image, prompt):
    """What a generator paints for TWO_CATS: CSS "green" painted as (0, 255, 0), as generators do."""
    painted = np.zeros(image.shape, np.uint8)
    width = image.shape[1]
    painted[4:-4, 2:width // 2 - 2] = (0, 255, 0)
    painted[4:-4, width // 2 + 2:-2] = (0, 255, 255)
    return painted


@pytest.fixture
def painter(monkeypatch):
    """`vb predict` with a generator that paints two objects, recording the prompts it was given."""
    prompts = []

    def paint(image, prompt):
        prompts.append(prompt)
        return two_objects(image, prompt)

    size = 40 * 56 / 1e6  # megapixels: painted at the input size
    monkeypatch.setattr(vb_plugins.predict, "load_generator",
                        lambda model, **options: PaintingGenerator(paint, megapixels=size))
    return prompts


def test_vb_predict_writes_a_depth_preview_with_a_colour_bar_in_metres(tmp_path, capsys):
    image = save_photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    code, _, err = run(capsys, "predict", "depth", image, "-o", out, "--quiet")
    assert code == 0, err
    record = json.loads((out / "a.json").read_text())
    assert "a.preview.png" in record["outputs"]
    preview = np.asarray(Image.open(out / "a.preview.png").convert("RGB"))
    # The image panel is scaled up to at least 320 px; the colour bar sits right of it.
    assert preview.shape[1] > 320 and preview.shape[0] >= 200
    bar = preview[:, 340:]
    assert has_colour(bar, cmap_colour(1.0), 10, within=8) and has_colour(bar, cmap_colour(0.0), 10, within=8)
    assert (bar.max(axis=2) < 100).sum() > 30  # tick labels in metres, in dark text
    # It is the picture `vb decode --preview` draws for these values.
    np.testing.assert_array_equal(preview, depth_preview(np.load(out / "a.depth.npy")).pixels)


def test_vb_predict_previews_share_a_fixed_depth_range_when_asked(tmp_path, capsys):
    image = save_photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    assert run(capsys, "predict", "depth", image, "-o", out, "--quiet", "--preview-range", "0.5,20")[0] == 0
    preview = np.asarray(Image.open(out / "a.preview.png").convert("RGB"))
    np.testing.assert_array_equal(preview, depth_preview(np.load(out / "a.depth.npy"), (0.5, 20.0)).pixels)
    code, _, err = run(capsys, "predict", "depth", image, "-o", tmp_path / "other", "--preview-range", "20,1")
    assert code != 0 and err.strip().count("\n") == 0 and "--preview-range '20,1'" in err
    assert not (tmp_path / "other").exists()


def test_vb_predict_no_preview_writes_none(tmp_path, capsys):
    image = save_photo(tmp_path / "in" / "a.png")
    assert run(capsys, "predict", "normals", image, "-o", tmp_path / "out", "--quiet", "--no-preview")[0] == 0
    assert not (tmp_path / "out" / "a.preview.png").exists() and (tmp_path / "out" / "a.normals.npy").exists()


def test_a_prompt_naming_two_objects_gives_one_mask_per_object_and_a_legend(tmp_path, capsys, painter):
    image = save_photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    code, _, err = run(capsys, "predict", "referring", image, "-o", out, "--quiet", "--prompt", TWO_CATS)
    assert code == 0, err
    assert set(painter) == {TWO_CATS}  # the generator was asked with the prompt as given
    record = json.loads((out / "a.json").read_text())
    assert record["prompts"] == [TWO_CATS]
    assert record["objects"] == {"a.referring-1.png": "the stretching cat",
                                 "a.referring-2.png": "the cat that is cleaning itself"}
    assert {"a.referring-1.png", "a.referring-2.png", "a.preview.png"} <= set(record["outputs"])
    # One 0/255 mask per object, as `vb decode referring ... --prompt` writes them.
    expected = two_objects(np.zeros((40, 56, 3), np.uint8), TWO_CATS)
    first = np.asarray(Image.open(out / "a.referring-1.png"))
    second = np.asarray(Image.open(out / "a.referring-2.png"))
    assert first.dtype == np.uint8 and set(np.unique(first)) == {0, 255}
    np.testing.assert_array_equal(first == 255, np.all(expected == (0, 255, 0), axis=2))
    np.testing.assert_array_equal(second == 255, np.all(expected == (0, 255, 255), axis=2))
    # "green" was matched to the (0, 255, 0) that was painted, and the record says so.
    matched = record["extras"]["matched_colours"][0]["the stretching cat"]
    assert matched["given"] == "green" and tuple(matched["decoded_as"]) == (0, 255, 0)
    # The preview's legend shows each object in the colour it was decoded with.
    preview = np.asarray(Image.open(out / "a.preview.png").convert("RGB"))
    legend = preview[:, 340:]
    assert has_colour(legend, (0, 255, 0), within=0) and has_colour(legend, (0, 255, 255), within=0)
    assert (legend.max(axis=2) < 100).sum() > 100  # the object names, in dark text


def test_the_masks_vb_predict_writes_are_those_vb_decode_writes(tmp_path, capsys, painter):
    image = save_photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    assert run(capsys, "predict", "referring", image, "-o", out, "--quiet", "--prompt", TWO_CATS)[0] == 0
    code, stdout, err = run(capsys, "decode", "referring", out / "a.generated.png", tmp_path / "mask.png",
                            "--prompt", TWO_CATS)
    assert code == 0, err
    for k in (1, 2):
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"a.referring-{k}.png")),
                                      np.asarray(Image.open(tmp_path / f"mask-{k}.png")))


def test_two_objects_given_as_classes_are_prompted_and_decoded_one_mask_each(tmp_path, capsys, painter):
    image = save_photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    code, _, err = run(capsys, "predict", "referring", image, "-o", out, "--quiet", "--classes",
                       '{"the stretching cat": "lime", "the cat that is cleaning itself": "cyan"}')
    assert code == 0, err
    assert painter[0] == ("This image shows segmentation masks from the given image. The background is black "
                          "color. The stretching cat is represented by a solid lime. The cat that is cleaning "
                          "itself is represented by a solid cyan.")
    record = json.loads((out / "a.json").read_text())
    assert list(record["objects"].values()) == ["the stretching cat", "the cat that is cleaning itself"]
    assert (np.asarray(Image.open(out / "a.referring-2.png")) == 255).sum() == \
        np.all(two_objects(np.zeros((40, 56, 3), np.uint8), "") == (0, 255, 255), axis=2).sum()


def test_a_prompt_vb_predict_cannot_read_is_one_line_quoting_the_part(tmp_path, capsys, painter):
    image = save_photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    code, _, err = run(capsys, "predict", "referring", image, "-o", out,
                       "--prompt", "The background is black. The cat is rendered in blurplish.")
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "'The cat is rendered in blurplish'" in err and "'blurplish' is not a colour" in err
    assert not out.exists() and painter == []
    code, _, err = run(capsys, "predict", "referring", image, "-o", out, "--prompt", TWO_CATS,
                       "--expression", "the cat")
    assert code != 0 and "the legend comes from the prompt" in err and not out.exists()


def test_a_custom_prompt_is_part_of_the_settings_a_rerun_must_match(tmp_path, capsys, painter):
    image = save_photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    assert run(capsys, "predict", "referring", image, "-o", out, "--quiet", "--prompt", TWO_CATS)[0] == 0
    other = TWO_CATS.replace("stretching", "sleeping")
    code, _, err = run(capsys, "predict", "referring", image, "-o", out, "--quiet", "--prompt", other)
    assert code != 0 and "--overwrite" in err and len(err.strip().splitlines()) == 1
