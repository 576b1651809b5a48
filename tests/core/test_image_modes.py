"""Image files of every Pillow mode: what each task can read from them.

Depth (in its colour schemes) and normals are colour codes: a gray file of any kind (8-bit, gray with
alpha, 1-bit, 16-bit, float TIFF) holds nothing to decode and is refused with one line naming the mode,
instead of being decoded as gray RGB (~100 % depth error); segmentation reads the grays as colours (a
white-on-black mask is a referring mask). Palette, CMYK and RGBA files are colour and convert to RGB.
Prompts write class names as the characters themselves.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vb_plugins import get_task
from vb_plugins.cli import main
from vb_plugins.io import read_image, read_rgb


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def gray():
    return np.random.default_rng(0).integers(0, 256, (10, 14), dtype=np.uint8)


GRAY_FILES = {
    "LA": ("la.png", lambda g: Image.fromarray(g).convert("LA"), "gray with alpha (mode LA)"),
    "1": ("bits.png", lambda g: Image.fromarray(g).convert("1"), "1-bit black-and-white (mode 1)"),
    "1-tiff": ("bits.tif", lambda g: Image.fromarray(g).convert("1"), "1-bit black-and-white (mode 1)"),
    "I;16": ("deep.png", lambda g: Image.fromarray(g.astype(np.uint16) * 257), "16-bit gray (mode I;16)"),
    "F": ("float.tif", lambda g: Image.fromarray(g.astype(np.float32) / 255), "32-bit float gray (mode F)"),
    "L": ("plain.png", lambda g: Image.fromarray(g), "8-bit gray (mode L)"),
}


@pytest.mark.parametrize("task", ["depth", "normals"])
@pytest.mark.parametrize("kind", list(GRAY_FILES))
def test_gray_files_are_refused_by_colour_decoders_naming_the_mode(tmp_path, capsys, gray, task, kind):
    name, make, words = GRAY_FILES[kind]
    make(gray).save(tmp_path / name)
    (tmp_path / "out.npy").write_bytes(b"keep")
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "decode", task, tmp_path / name, tmp_path / "out.npy", "--overwrite")
    assert code == 1 and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert lines == [f"vb decode: error: {tmp_path / name}: {task} decoding needs a colour (RGB) image; "
                     f"the file is {words}"]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["LA", "1", "I;16", "F"])
def test_gray_files_read_as_single_channel(tmp_path, gray, kind):
    name, make, _ = GRAY_FILES[kind]
    make(gray).save(tmp_path / name)
    array = read_image(tmp_path / name)
    assert array.shape == gray.shape
    if kind == "LA":
        assert array.dtype == np.uint8 and np.array_equal(array, gray)  # alpha dropped, gray kept
    elif kind == "1":
        assert set(np.unique(array).tolist()) <= {0, 255}
    elif kind == "I;16":
        assert array.dtype == np.uint16 and np.array_equal(array, gray.astype(np.uint16) * 257)
    else:
        assert array.dtype == np.float32 and np.allclose(array, gray / 255, atol=1e-7)
    assert np.array_equal(read_rgb(tmp_path / name)[..., 0], read_rgb(tmp_path / name)[..., 2])


def test_gray_scheme_depth_still_decodes_a_gray_file(tmp_path, capsys):
    depth = np.geomspace(0.5, 30, 8 * 9).reshape(8, 9).astype(np.float32)
    picture = get_task("depth").encode(depth, get_task("depth").make_spec(scheme="gray"))
    Image.fromarray(picture[..., 0]).convert("LA").save(tmp_path / "g.png")
    assert run(capsys, "decode", "depth", tmp_path / "g.png", tmp_path / "o.npy", "--scheme", "gray")[0] == 0
    assert np.allclose(np.load(tmp_path / "o.npy"), depth, rtol=0.05)


@pytest.mark.parametrize("mode", ["1", "LA", "L"])
def test_segmentation_reads_the_grays_of_a_gray_file_as_colours(tmp_path, capsys, mode):
    mask = np.zeros((6, 8), np.uint8)
    mask[:, 5:] = 255
    Image.fromarray(mask).convert(mode).save(tmp_path / "mask.png")
    assert run(capsys, "decode", "referring", tmp_path / "mask.png", tmp_path / "m.png", "--colour", "white")[0] == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "m.png")), mask)
    legend = '{"thing": "white", "rest": "black"}'
    assert run(capsys, "decode", "semantic", tmp_path / "mask.png", tmp_path / "l.png", "--classes", legend)[0] == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "l.png")), np.where(mask == 255, 1, 2))


@pytest.mark.parametrize("mode, name", [("P", "pal.png"), ("CMYK", "cmyk.tif"), ("RGBA", "rgba.png")])
def test_palette_cmyk_and_rgba_files_decode_as_their_rgb(tmp_path, capsys, mode, name):
    depth = np.geomspace(0.5, 30, 8 * 9).reshape(8, 9).astype(np.float32)
    picture = get_task("depth").encode(depth)
    Image.fromarray(picture).convert(mode).save(tmp_path / name)
    Image.fromarray(picture).save(tmp_path / "rgb.png")
    expected = np.asarray(Image.open(tmp_path / name).convert("RGB"))
    assert np.array_equal(read_rgb(tmp_path / name), expected)
    assert run(capsys, "decode", "depth", tmp_path / name, tmp_path / "o.npy", "--mode", "exact")[0] == 0
    Image.fromarray(expected).save(tmp_path / "converted.png")
    assert run(capsys, "decode", "depth", tmp_path / "converted.png", tmp_path / "c.npy", "--mode", "exact")[0] == 0
    assert np.array_equal(np.load(tmp_path / "o.npy"), np.load(tmp_path / "c.npy"), equal_nan=True)


def test_float_tiff_outside_0_1_is_refused_as_a_picture(tmp_path):
    from vb_plugins.errors import InputError

    Image.fromarray(np.full((4, 4), 3.5, np.float32)).save(tmp_path / "metres.tif")
    assert read_image(tmp_path / "metres.tif").max() == 3.5  # the values as stored (e.g. depth ground truth)
    with pytest.raises(InputError, match=r"metres.tif: float image values span 3.5..3.5"):
        read_rgb(tmp_path / "metres.tif")


# -- item 12: prompts -------------------------------------------------------------------------------------------

def test_prompt_writes_non_ascii_class_names_as_characters(capsys):
    code, out, err = run(capsys, "prompt", "semantic", "--classes", '{"猫": "red", "Straße": "blue"}')
    assert code == 0 and not err
    assert '{"猫": "red", "Straße": "blue"}' in out and "\\u" not in out
    code, out, _ = run(capsys, "prompt", "semantic", "--classes", '{"café": "red"}', "--dialect", "zero-shot")
    assert code == 0 and "café in red" in out


def test_json_legend_dialect_helpers_keep_non_ascii():
    from vb_plugins.prompts import json_legend, paper_legend

    spec = get_task("semantic").make_spec(classes={"ñandú": "(1, 2, 3)"})
    assert paper_legend(spec) == '{"ñandú": <1, 2, 3>}'
    assert json_legend(spec) == '{"ñandú": "<1, 2, 3>"}'


def test_prompt_refuses_duplicate_colours_exactly_as_decode_does(tmp_path, capsys):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "s.png")
    legend = '{"cat": "red", "dog": "#ff0000"}'
    before = snapshot(tmp_path)
    prompt = run(capsys, "prompt", "semantic", "--classes", legend)
    decode = run(capsys, "decode", "semantic", tmp_path / "s.png", tmp_path / "o.png", "--classes", legend)
    for code, out, err in (prompt, decode):
        assert code == 1 and not out and "Traceback" not in err and len(err.strip().splitlines()) == 1
    message = "classes: 'cat' and 'dog' share the colour (255, 0, 0)"
    assert prompt[2].strip() == f"vb prompt: error: {message}"
    assert decode[2].strip() == f"vb decode: error: {message}"
    assert snapshot(tmp_path) == before
