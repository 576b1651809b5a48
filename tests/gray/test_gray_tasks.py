"""Relative depth and matting: exact 8- and 16-bit round trips, gray painted as RGB (JPEG included), the
options that say what the gray means, metres from sparse points, and one-line refusals."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vb_plugins import get_task
from vb_plugins.cli import main
from vb_plugins.errors import InputError
from vb_plugins.metric_points import fit_scale_shift, metres_from_points, to_metres


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def grid(bits: int) -> np.ndarray:
    """Every level of a ``bits``-bit gray picture, as values in [0, 1]."""
    levels = 255 if bits == 8 else 65535
    return (np.arange(levels + 1, dtype=np.float64) / levels).reshape(-1, 256 if bits == 16 else 16)


# -- round trips ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task_name", ["relative-depth", "matting"])
@pytest.mark.parametrize("bits", [8, 16])
def test_values_on_the_gray_grid_round_trip_bit_exactly(task_name, bits):
    task = get_task(task_name)
    spec = task.make_spec(bits=bits)
    values = grid(bits)
    picture = task.encode(values, spec)
    assert picture.dtype == (np.uint8 if bits == 8 else np.uint16) and picture.ndim == 2
    decoded = task.decode(picture, spec)
    assert decoded.values.dtype == np.float32 and decoded.bits == bits
    np.testing.assert_array_equal(task.encode(decoded.values, spec), picture)  # picture -> values -> picture
    np.testing.assert_array_equal(np.rint(decoded.values.astype(np.float64) * (2 ** bits - 1)),
                                  np.rint(values * (2 ** bits - 1)))
    assert (decoded.confidence == 1.0).all() and (decoded.residual == 0).all()


@pytest.mark.parametrize("bits", [8, 16])
def test_vb_encode_and_decode_round_trip_through_gray_png_files(tmp_path, capsys, bits):
    values = grid(bits).astype(np.float32)
    np.save(tmp_path / "values.npy", values)
    code, _, err = run(capsys, "encode", "relative-depth", tmp_path / "values.npy", tmp_path / "gray.png",
                       "--set", f"bits={bits}")
    assert code == 0, err
    with Image.open(tmp_path / "gray.png") as image:
        assert image.mode == ("L" if bits == 8 else "I;16")
        stored = np.asarray(image)
    code, _, err = run(capsys, "decode", "relative-depth", tmp_path / "gray.png", tmp_path / "back.npy",
                       "--confidence", tmp_path / "confidence.npy", "--preview", tmp_path / "preview.png")
    assert code == 0, err
    back = np.load(tmp_path / "back.npy")
    np.testing.assert_array_equal(get_task("relative-depth").encode(back, get_task("relative-depth").make_spec(
        bits=bits)), stored)
    np.testing.assert_allclose(back, values, atol=0.5 / (2 ** bits - 1))
    assert np.load(tmp_path / "confidence.npy").min() == 1.0
    with Image.open(tmp_path / "preview.png") as preview:
        assert preview.mode == "RGB" and preview.width > values.shape[1]


def test_the_relative_depth_preview_has_a_colour_bar_titled_relative():
    from vb_plugins.previews import preview_for

    task = get_task("relative-depth")
    decoding = task.decode(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)))
    preview = preview_for(task, decoding, task.make_spec())
    x0, y0, x1, y1 = preview.key
    bar = preview.pixels[y0:y1, x0:x1]
    assert bar.shape[0] > 50 and bar.shape[1] > 5
    # the bar runs from inferno's bright end at the top to its dark end at the bottom
    assert bar[2:6].mean() > bar[-6:-2].mean() + 100


# -- gray painted as RGB --------------------------------------------------------------------------------

def test_gray_painted_as_rgb_and_saved_as_jpeg_decodes_close_with_high_confidence():
    task = get_task("relative-depth")
    y, x = np.mgrid[0:96, 0:128]
    values = (0.5 + 0.4 * np.sin(x / 11.0) * np.cos(y / 13.0)).astype(np.float64)
    gray = task.encode(values)
    buffer = io.BytesIO()
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(buffer, format="JPEG", quality=85)
    jpeg = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert not np.array_equal(jpeg[..., 0], jpeg[..., 2]) or not np.array_equal(jpeg[..., 0], gray)  # it is lossy
    decoding = task.decode(jpeg)
    assert np.abs(decoding.values - values).mean() < 1.5 / 255  # JPEG's error, nothing more
    assert decoding.confidence.mean() > 0.95


def test_coloured_pixels_lose_confidence_by_their_channel_disagreement():
    task = get_task("matting")
    picture = np.full((4, 4, 3), 128, np.uint8)
    picture[0, 0] = (200, 100, 100)  # 100 levels apart: not gray at all
    picture[0, 1] = (130, 128, 126)  # 4 levels apart: gray with a little noise
    decoding = task.decode(picture)
    assert decoding.values[0, 0] == pytest.approx((200 + 100 + 100) / 3 / 255)  # the mean of the channels
    assert decoding.residual[0, 0] == 100 and decoding.residual[0, 1] == 4
    assert decoding.confidence[0, 0] < 1e-3 < 0.8 < decoding.confidence[0, 1] < decoding.confidence[1, 1] == 1.0


def test_what_the_gray_encodes_is_an_option_and_the_prompt_says_it():
    task = get_task("relative-depth")
    inverse, depth = task.make_spec(), task.make_spec(encodes="depth")
    assert task.prompt(inverse) == ("Generate relative inverse depth: near points bright, far points dark, "
                                    "matching input pixels.")
    assert task.prompt(depth) == "Generate relative depth: near points dark, far points bright, matching input pixels."
    picture = np.array([[0, 255]], np.uint8)
    np.testing.assert_array_equal(task.decode(picture, inverse).values, [[0.0, 1.0]])  # as painted
    np.testing.assert_array_equal(task.decode(picture, depth).values, [[0.0, 1.0]])  # as painted
    # a picture painted near-bright but read as depth: the values still mean depth (0 = nearest)
    flipped = task.make_spec(encodes="depth", near="bright")
    assert task.prompt(flipped).startswith("Generate relative depth: near points bright")
    np.testing.assert_array_equal(task.decode(picture, flipped).values, [[1.0, 0.0]])
    np.testing.assert_array_equal(task.encode(np.array([[1.0, 0.0]]), flipped), picture)
    assert get_task("matting").prompt() == \
        "Generate an alpha matte of the foreground: white foreground, black background."


# -- metres from sparse points ------------------------------------------------------------------------------

def synthetic_scene(encodes: str):
    """Relative values of a scene 1 .. 8 m deep, and its true metres."""
    y, x = np.mgrid[0:40, 0:60]
    metres = 1.0 + 7.0 * (x / 59.0) ** 1.5 + 0.2 * y / 39.0
    if encodes == "inverse":
        relative = (1.0 / metres - 0.1) / 0.9  # scale 0.9, shift 0.1 in inverse depth
    else:
        relative = (metres - 0.5) / 9.0  # scale 9, shift 0.5 in depth
    return relative, metres


@pytest.mark.parametrize("encodes, scale, shift", [("inverse", 0.9, 0.1), ("depth", 9.0, 0.5)])
def test_a_scale_and_shift_from_a_few_points_recovers_metres(encodes, scale, shift):
    relative, metres = synthetic_scene(encodes)
    known = np.full(metres.shape, np.nan)
    rows, cols = np.array([3, 20, 35, 10]), np.array([5, 30, 55, 44])
    known[rows, cols] = metres[rows, cols]
    estimate, fit = metres_from_points(relative, known, encodes)
    assert fit.points == 4 and fit.scale == pytest.approx(scale, rel=1e-9) and fit.shift == pytest.approx(shift,
                                                                                                          rel=1e-9)
    np.testing.assert_allclose(estimate, metres, rtol=1e-5)
    assert fit.space == ("inverse-depth" if encodes == "inverse" else "depth")


def test_noisy_points_give_the_least_squares_fit_numpy_computes():
    relative, metres = synthetic_scene("inverse")
    rng = np.random.default_rng(1)
    known = np.where(rng.random(metres.shape) < 0.02, metres * (1 + rng.normal(0, 0.02, metres.shape)), np.nan)
    fit = fit_scale_shift(relative, known, "inverse")
    usable = np.isfinite(known)
    design = np.stack([relative[usable], np.ones(usable.sum())], axis=1)
    expected = np.linalg.lstsq(design, 1.0 / known[usable], rcond=None)[0]
    assert (fit.scale, fit.shift) == pytest.approx(tuple(expected), rel=1e-9)
    assert np.median(np.abs(to_metres(relative, fit) - metres) / metres) < 0.02


def test_pixels_beyond_the_fit_are_nan_not_negative_distances():
    relative = np.array([[0.0, 0.5, 1.0]])
    fit = fit_scale_shift(relative, np.array([[np.nan, 2.0, 1.0]]), "inverse")  # 1/m = 1.0 * r + 0.0
    np.testing.assert_allclose(to_metres(relative, fit), [[np.nan, 2.0, 1.0]])


@pytest.mark.parametrize("known, message", [
    (np.array([[np.nan, np.nan, 3.0]]), "1 known point(s); a scale and shift need at least 2"),
    (np.array([[0.0, -1.0, np.inf]]), "0 known point(s)"),
    (np.array([[2.0, 3.0, np.nan]]), "all 2 known points have the same relative depth"),
    (np.array([[2.0, 3.0]]), "shape (1, 2) does not match the relative depth's (1, 3)"),
])
def test_too_few_or_useless_points_are_refused_with_one_line(known, message):
    with pytest.raises(InputError, match="^known depth: ") as error:
        fit_scale_shift(np.array([[0.2, 0.2, 0.9]]), known)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_vb_decode_writes_metres_from_known_points_and_refuses_one_point(tmp_path, capsys):
    task = get_task("relative-depth")
    relative, metres = synthetic_scene("inverse")
    Image.fromarray(task.encode(relative, task.make_spec(bits=16))).save(tmp_path / "rel.png")
    known = np.full(metres.shape, np.nan, np.float32)
    known[5, 5], known[30, 50] = metres[5, 5], metres[30, 50]
    np.save(tmp_path / "known.npy", known)
    code, out, err = run(capsys, "decode", "relative-depth", tmp_path / "rel.png", tmp_path / "rel.npy",
                         "--known-depth", tmp_path / "known.npy", "--metres", tmp_path / "metres.npy")
    assert code == 0, err
    assert "from 2 known points" in out and "inverse-depth" in out
    np.testing.assert_allclose(np.load(tmp_path / "metres.npy"), metres, rtol=2e-4)
    known[30, 50] = np.nan
    np.save(tmp_path / "one.npy", known)
    code, _, err = run(capsys, "decode", "relative-depth", tmp_path / "rel.png", tmp_path / "rel2.npy",
                       "--known-depth", tmp_path / "one.npy", "--metres", tmp_path / "metres2.npy")
    assert_one_line_error(code, err, "one.npy: 1 known point(s); a scale and shift need at least 2")
    assert not (tmp_path / "rel2.npy").exists() and not (tmp_path / "metres2.npy").exists()


# -- bad input ----------------------------------------------------------------------------------------------

def test_bad_inputs_are_one_line_errors_that_write_nothing(tmp_path, capsys):
    np.save(tmp_path / "big.npy", np.array([[0.0, 1.5]]))
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan]]))
    np.save(tmp_path / "ok.npy", np.array([[0.0, 0.5]]))
    (tmp_path / "text.png").write_text("not a png")
    cases = [
        (["encode", "matting", tmp_path / "big.npy", tmp_path / "o1.png"], ["values must lie in 0..1, found 0..1.5"]),
        (["encode", "relative-depth", tmp_path / "nan.npy", tmp_path / "o2.png"], ["1 NaN or infinite values"]),
        (["encode", "relative-depth", tmp_path / "ok.npy", tmp_path / "o3.png", "--set", "bits=12"],
         ["bits=12: gray pictures are 8 or 16 bit"]),
        (["decode", "relative-depth", tmp_path / "text.png", tmp_path / "o4.npy"], ["not a readable image file"]),
        (["decode", "relative-depth", tmp_path / "text.png", tmp_path / "o5.npy", "--set", "encodes=disparity"],
         ["encodes 'disparity' is not one of inverse, depth"]),
        (["decode", "matting", tmp_path / "text.png", tmp_path / "o6.npy", "--set", "threshold=1"],
         ["threshold=1 must be in [0, 1)"]),
        (["decode", "matting", tmp_path / "text.png", tmp_path / "o7.npy", "--known-depth", tmp_path / "ok.npy",
          "--metres", tmp_path / "m.npy"], ["--known-depth: only for relative-depth, not matting"]),
    ]
    for args, fragments in cases:
        code, _, err = run(capsys, *args)
        assert_one_line_error(code, err, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npy", "nan.npy", "ok.npy", "text.png"]


@pytest.mark.parametrize("task, painter", [("matting", "Edit2Perceive"), ("relative-depth", "Open Vision Banana")])
def test_the_bundled_model_refuses_gray_tasks_and_names_models_that_paint_them(tmp_path, capsys, task, painter):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "a.png")
    code, _, err = run(capsys, "predict", task, tmp_path / "a.png", "-o", tmp_path / "out")
    assert_one_line_error(code, err, f"task {task!r}: the bundled model (vb-small) paints depth and normals only",
                          f"checkpoints that paint {task}:", painter)
    assert not (tmp_path / "out").exists()
