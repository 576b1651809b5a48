"""Readable outputs: previews with a colour bar / legend / key, palette label PNGs, demo contact sheets."""

import matplotlib
import numpy as np
import pytest
from PIL import Image

import vb_plugins
from vb_plugins.cli import main
from vb_plugins.contact_sheets import contact_sheet
from vb_plugins.label_files import read_labels, write_label_png
from vb_plugins.previews import DEPTH_CMAP, depth_preview, normals_key, preview_for

WHITE = (255, 255, 255)


def region(preview, box=None):
    x0, y0, x1, y1 = box or preview.key
    return preview.pixels[y0:y1, x0:x1].reshape(-1, 3)


def has_colour(pixels, colour, at_least=20, within=2):
    return int((np.abs(pixels.astype(int) - colour).max(axis=1) <= within).sum()) >= at_least


def cmap_colour(value):
    return tuple(int(c * 255 + 0.5) for c in matplotlib.colormaps[DEPTH_CMAP](value)[:3])


def test_depth_preview_has_a_colour_bar_from_near_to_far():
    depth = np.tile(np.geomspace(0.5, 40, 64), (48, 1)).astype(np.float32)
    depth[:4, :4] = np.inf  # sky
    preview = depth_preview(depth)
    bar = region(preview)
    assert preview.key[2] > preview.pixels.shape[1] * 0.6  # right of the image
    assert len({tuple(p) for p in bar}) > 100 and np.mean(np.all(bar == WHITE, axis=1)) < 0.05
    # Near is the bright end of the colour map, far the dark end; both are in the bar.
    assert has_colour(bar, cmap_colour(1.0), 10, within=8) and has_colour(bar, cmap_colour(0.0), 10, within=8)
    # Tick labels in metres are drawn right of the bar: dark text pixels there.
    x0, y0, x1, y1 = preview.key
    labels = preview.pixels[y0:y1, x1 + 2:x1 + 40]
    assert (labels.max(axis=2) < 100).sum() > 30


def test_a_fixed_depth_range_is_the_range_shown():
    depth = np.full((32, 32), 2.0, np.float32)
    depth[:, 16:] = 8.0
    fixed = depth_preview(depth, (2.0, 8.0)).pixels
    assert has_colour(fixed.reshape(-1, 3), cmap_colour(1.0), at_least=400)  # 2 m: the near end
    assert has_colour(fixed.reshape(-1, 3), cmap_colour(0.0), at_least=400)  # 8 m: the far end


def test_semantic_preview_has_a_legend_in_the_class_colours():
    task = vb_plugins.get_task("semantic")
    spec = task.make_spec(classes={"cat": "red", "exit sign": "(191, 119, 246)", "background": "#ffff00"})
    labels = np.zeros((60, 90), np.uint8)
    labels[:, :30], labels[:, 30:60], labels[:, 60:] = 1, 2, 3
    labels[:3] = 0
    preview = preview_for(task, type("Decoding", (), {"values": labels})(), spec)
    legend = region(preview)
    assert preview.key[0] > preview.pixels.shape[1] * 0.5
    for colour in ((255, 0, 0), (191, 119, 246), (255, 255, 0), (0, 0, 0)):  # black: the unlabeled entry
        assert has_colour(legend, colour, within=0), colour
    assert (legend.max(axis=1) < 100).sum() > 100  # the names, in dark text


def test_matched_words_are_shown_in_the_colour_they_were_matched_to():
    task = vb_plugins.get_task("referring")
    spec = task.make_spec(prompt="The stretching cat is rendered in green, the cat that is cleaning itself "
                                 "is in cyan.")
    image = np.zeros((64, 96, 3), np.uint8)
    image[8:56, 8:40], image[8:56, 56:88] = (0, 255, 0), (0, 255, 255)
    preview = preview_for(task, task.decode(image, spec), spec)
    legend = region(preview)
    assert has_colour(legend, (0, 255, 0), within=0) and has_colour(legend, (0, 255, 255), within=0)
    assert not has_colour(legend, (0, 128, 0), within=0)


def test_instance_and_mask_previews_have_legends():
    instance = vb_plugins.get_task("instance")
    image = np.zeros((60, 60, 3), np.uint8)
    image[5:25, 5:25], image[35:55, 35:55] = (230, 25, 75), (0, 130, 200)
    decoding = instance.decode(image, instance.make_spec(classes="ball"))
    legend = region(preview_for(instance, decoding, instance.make_spec(classes="ball")))
    assert has_colour(legend, (230, 25, 75), within=3) and has_colour(legend, (0, 130, 200), within=3)
    referring = vb_plugins.get_task("referring")
    spec = referring.make_spec(expression="the ball", colour="(230, 25, 75)")
    legend = region(preview_for(referring, referring.decode(image, spec), spec))
    assert has_colour(legend, WHITE, within=0) and has_colour(legend, (0, 0, 0), within=0)


def test_normals_preview_has_a_key_sphere_in_the_normal_map_colours():
    task = vb_plugins.get_task("normals")
    normals = np.zeros((40, 40, 3), np.float32)
    normals[..., 2] = 1.0
    preview = preview_for(task, task.codec.decode(task.codec.encode(normals)))
    key = region(preview)
    codec = task.codec
    towards, left, up = (tuple(codec.encode(np.array([[v]], np.float32))[0, 0]) for v in
                         ([0, 0, 1], [-1, 0, 0], [0, 1, 0]))
    assert has_colour(key, towards, within=6) and has_colour(key, left, within=40) and has_colour(key, up, within=40)
    sphere = normals_key(64)
    assert tuple(sphere[32, 32]) == pytest.approx(towards, abs=4) and tuple(sphere[0, 0]) == WHITE


def test_contact_sheet_has_every_bar_and_the_normals_key():
    from vb_plugins.demo import load_examples

    example = load_examples()[0]
    noisy = example.depth * 1.1
    sheet = contact_sheet(example.image, example.depth, noisy, example.normals, example.normals, example.name)
    assert set(sheet.regions) == {"depth bar", "abs rel bar", "angle bar", "normals key"}
    for name, box in sheet.regions.items():
        pixels = region(sheet, box)
        assert np.mean(np.all(pixels == WHITE, axis=1)) < 0.6 and len({tuple(p) for p in pixels}) > 50, name
    # The input photo is on the sheet, pixel for pixel somewhere in its first panel.
    assert has_colour(sheet.pixels.reshape(-1, 3), tuple(example.image[64, 64]), at_least=4, within=0)


def test_demo_writes_one_contact_sheet_per_scene(tmp_path):
    from vb_plugins.demo import load_examples, write_contact_sheets

    examples = load_examples()[:2]

    class Perfect:
        def __init__(self, values):
            self.values = values

    predicted = {"depth": ([Perfect(e.depth) for e in examples], [{"delta1": 1.0, "abs_rel": 0.0}] * 2),
                 "normals": ([Perfect(e.normals) for e in examples], [{"mean_angle": 0.0}] * 2)}
    written = write_contact_sheets(tmp_path, examples, predicted, {"depth": {"generator": "perfect"}})
    assert [p.name for p in written] == [f"{e.name}.sheet.png" for e in examples]
    assert all(np.asarray(Image.open(p)).shape[1] > 1000 for p in written)


# -- palette label PNGs ---------------------------------------------------------------------------------------

def test_label_pngs_are_palette_pngs_that_read_back_as_their_values(tmp_path):
    labels = np.array([[0, 1, 2], [3, 2, 1]], np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (191, 119, 246)]
    path = write_label_png(tmp_path / "l.png", labels, colours)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.getpalette()[:12] == [0, 0, 0, 255, 0, 0, 0, 255, 0, 191, 119, 246]
        assert np.array_equal(np.asarray(image), labels)
        assert tuple(np.asarray(image.convert("RGB"))[1, 0]) == (191, 119, 246)  # what a viewer shows
    assert np.array_equal(read_labels(path), labels)
    from vb_plugins.evaluation.files import load_labels

    assert np.array_equal(load_labels(path), labels)


def test_vb_decode_semantic_writes_a_palette_png_and_a_preview(tmp_path, capsys):
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, :20], rgb[:, 20:40] = (255, 0, 0), (255, 255, 0)
    Image.fromarray(rgb).save(tmp_path / "s.png")
    code = main(["decode", "semantic", str(tmp_path / "s.png"), str(tmp_path / "l.png"), "--classes",
                 '{"cat": "red", "background": "#ffff00"}', "--preview", str(tmp_path / "p.png")])
    assert code == 0
    labels = read_labels(tmp_path / "l.png")
    assert (labels[:, :20] == 1).all() and (labels[:, 20:40] == 2).all() and (labels[:, 40:] == 0).all()
    with Image.open(tmp_path / "l.png") as image:
        assert image.mode == "P" and image.getpalette()[3:9] == [255, 0, 0, 255, 255, 0]
    # The label PNG reads back through the task (vb encode) as the same values.
    task = vb_plugins.get_task("semantic")
    assert np.array_equal(task.load_values(tmp_path / "l.png", task.make_spec(classes="cat, background")), labels)
    preview = np.asarray(Image.open(tmp_path / "p.png"))
    assert preview.shape[1] > 300 and has_colour(preview[:, 330:].reshape(-1, 3), (255, 0, 0), within=0)


def test_vb_decode_depth_preview_with_a_fixed_range(tmp_path, capsys):
    depth = np.geomspace(0.5, 30, 32 * 48).reshape(32, 48).astype(np.float32)
    np.save(tmp_path / "d.npy", depth)
    assert main(["encode", "depth", str(tmp_path / "d.npy"), str(tmp_path / "d.png")]) == 0
    assert main(["decode", "depth", str(tmp_path / "d.png"), str(tmp_path / "o.npy"), "--preview",
                 str(tmp_path / "p.png"), "--preview-range", "1,20"]) == 0
    preview = np.asarray(Image.open(tmp_path / "p.png"))
    assert preview.shape[1] > 300  # the image panel is scaled up to be readable
    # Depths up to 1 m take the near (bright) end of the fixed 1..20 m range: about a sixth of the image.
    assert has_colour(preview.reshape(-1, 3), cmap_colour(1.0), at_least=5000, within=0)


def test_vb_decode_from_a_prompt_with_two_objects_writes_one_mask_each(tmp_path, capsys):
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[5:35, 5:25], rgb[5:35, 35:55] = (0, 255, 0), (0, 255, 255)
    Image.fromarray(rgb).save(tmp_path / "r.png")
    prompt = "The stretching cat is rendered in green, the cat that is cleaning itself is in cyan."
    assert main(["decode", "referring", str(tmp_path / "r.png"), str(tmp_path / "m.png"), "--prompt", prompt,
                 "--preview", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'm-1.png'}: the stretching cat" in out and "cleaning itself" in out
    assert "'green' matched the painted colour (0, 255, 0)" in out
    first, second = (np.asarray(Image.open(tmp_path / f"m-{k}.png")) for k in (1, 2))
    assert (first[5:35, 5:25] == 255).all() and first.sum() == 600 * 255
    assert (second[5:35, 35:55] == 255).all() and second.sum() == 600 * 255
    assert not (tmp_path / "m.png").exists() and (tmp_path / "p.png").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--prompt", "The cat is red.", "--classes", "cat"], "the legend comes from the prompt"),
    (["--prompt", "The cat is rendered in blurplish."], "'blurplish' is not a colour"),
    (["--prompt", "Nothing here."], "no class legend found"),
    (["--classes", "cat", "--preview-range", "1,10"], "--preview-range: needs --preview"),
    (["--classes", "cat", "--preview", "{d}/p.jpg"], "p.jpg"),
])
def test_decode_prompt_and_preview_errors_are_one_line_and_write_nothing(tmp_path, capsys, args, fragment):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "s.png")
    before = set(tmp_path.iterdir())
    code = main(["decode", "semantic", str(tmp_path / "s.png"), str(tmp_path / "o.png"),
                 *[a.format(d=tmp_path) for a in args]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and fragment in err[0]
    assert set(tmp_path.iterdir()) == before
