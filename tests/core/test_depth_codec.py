import numpy as np
import pytest

import vb_plugins
from vb_plugins.codecs import DepthCodec, DepthCurve
from vb_plugins.codecs.schemes import VB_CUBE_PATH, build_cube_walk_lut, cube_walk_codes, pack_rgb
from vb_plugins.errors import InputError


@pytest.fixture(scope="module")
def codec():
    return vb_plugins.get_task("depth").codec


def test_curve_matches_published_closed_form():
    d = np.array([0.0, 0.5, 1.0, 3.0, 10.0, 80.0])
    assert np.allclose(DepthCurve().forward(d), 1 - (1 + d / 10) ** -2)
    f = np.linspace(0, 0.999, 50)
    assert np.allclose(DepthCurve().inverse(f), 10 * ((1 - f) ** -0.5 - 1))
    assert DepthCurve().inverse(1.0) == np.inf


def test_path_vertices_sit_at_published_depths(codec):
    # black, red, yellow, green, cyan, blue, magenta at 0, 0.80, 1.83, 3.23, 5.28, 8.71, 16.46 m
    expected = [0.0, 0.80, 1.83, 3.23, 5.28, 8.71, 16.46]
    colours = (VB_CUBE_PATH[:7] * 255).astype(np.uint8)[None]
    depth, residual = codec.decode(colours)
    assert np.allclose(depth[0], expected, atol=0.005)
    assert np.all(residual == 0)
    white = codec.decode(np.full((1, 1, 3), 255, np.uint8)).depth
    assert white[0, 0] == np.inf


def test_round_trip_within_half_an_8bit_step_from_0_3_to_80_m(codec):
    depth = np.geomspace(0.3, 80.0, 1_000_000).reshape(1000, 1000)
    rgb = codec.encode(depth)
    decoded, residual = codec.decode(rgb)
    error_in_steps = np.abs(codec.path_position(decoded.astype(np.float64)) - codec.path_position(depth))
    assert error_in_steps.max() <= 0.5 + 1e-3
    assert residual.max() == 0  # every 8-bit colour of the encoding lies exactly on the path


def test_encode_agrees_with_hilbertmap_reference(codec):
    hilbertmap = pytest.importorskip("hilbertmap")
    depth = np.concatenate([np.geomspace(0.01, 500, 200_000), np.random.default_rng(1).uniform(0, 100, 200_000)])
    ours = codec.encode(depth.reshape(400, 1000)).astype(int)
    reference = np.rint(hilbertmap.depth_to_rgb(depth) * 255).reshape(400, 1000, 3).astype(int)
    assert np.abs(ours - reference).max() <= 1


def test_decode_agrees_with_hilbertmap_projection_on_arbitrary_colours(codec):
    hilbertmap = pytest.importorskip("hilbertmap")
    rgb = np.random.default_rng(2).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    ours = codec.decode(rgb).depth
    f_reference = hilbertmap.project(rgb.astype(np.float64) / 255.0)
    d_reference = np.asarray(hilbertmap.normalized_to_depth(np.minimum(f_reference, 1 - 1e-12)))
    finite = f_reference < 1
    # Same nearest segment except at exact ties between segments (both answers are then equally near).
    same = np.isclose(ours[finite], d_reference[finite], rtol=1e-4)
    assert same.mean() > 0.995


def test_table_and_direct_decoding_are_identical():
    rgb = np.random.default_rng(3).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    code, d2 = cube_walk_codes(rgb, VB_CUBE_PATH)
    entry = build_cube_walk_lut(VB_CUBE_PATH)[pack_rgb(rgb)]
    assert np.array_equal(code, entry & 0xFFF)
    assert np.array_equal(d2, entry >> 12)


def test_float_and_16bit_inputs_decode_like_8bit(codec):
    depth = np.geomspace(0.3, 80, 64 * 64).reshape(64, 64)
    rgb_float = codec.encode(depth, as_float=True)
    assert np.allclose(codec.decode(rgb_float).depth, depth, rtol=1e-4)
    rgb16 = np.rint(rgb_float * 65535).astype(np.uint16)
    assert np.allclose(codec.decode(rgb16).depth, depth, rtol=1e-3)
    rgba = np.dstack([codec.encode(depth), np.full(depth.shape, 255, np.uint8)])
    assert np.array_equal(codec.decode(rgba).depth, codec.decode(codec.encode(depth)).depth)


def test_residual_measures_distance_to_path(codec):
    off = np.array([[[255, 0, 40]]], np.uint8)  # 40 levels of blue off the black-red edge
    depth, residual = codec.decode(off)
    assert residual[0, 0] == pytest.approx(40.0)
    # confidence is the calibrated reliability (issue 23): low off the path, near 1 on it
    assert codec.decode(off).confidence[0, 0] < 0.1
    assert codec.decode(np.array([[[255, 0, 0]]], np.uint8)).confidence[0, 0] > 0.99


def test_inf_encodes_white_and_invalid_depth_is_rejected_not_silently_encoded(codec):
    assert codec.encode(np.array([[np.inf]])).tolist() == [[[255, 255, 255]]]
    with pytest.raises(InputError, match="1 NaN and 1 negative"):
        codec.encode(np.array([[1.0, np.nan, -2.0]]))
    filled = codec.encode(np.array([[1.0, np.nan, -2.0]]), invalid="fill", fill="#00ff00")
    assert filled[0, 1].tolist() == [0, 255, 0] and filled[0, 2].tolist() == [0, 255, 0]


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4)), "single-channel"),
    (np.zeros((4, 4, 2), np.uint8), "H x W x 3"),
    (np.full((2, 2, 3), 200.0), "0..255"),
    (np.zeros((0, 4, 3), np.uint8), "empty"),
])
def test_bad_images_are_rejected_with_a_clear_message(codec, bad, message):
    with pytest.raises(InputError, match=message):
        codec.decode(bad)


@pytest.mark.parametrize("scheme", ["plasma", "inferno", "viridis", "gray"])
def test_alternative_schemes_round_trip(scheme):
    codec = DepthCodec(scheme)
    depth = np.geomspace(0.3, 80, 100 * 100).reshape(100, 100)
    decoded = codec.decode(codec.encode(depth)).depth
    f_error = np.abs(DepthCurve().forward(decoded) - DepthCurve().forward(depth))
    assert f_error.max() < 3e-3  # 8-bit colours on a 255-segment path: about one colormap step


def test_gray_scheme_accepts_single_channel_images():
    codec = DepthCodec("gray")
    depth = np.geomspace(0.5, 40, 400).reshape(20, 20)
    gray = codec.encode(depth)[..., 0]
    assert np.allclose(codec.decode(gray).depth, depth, rtol=0.05)


def test_curve_parameters_change_the_encoding_and_still_round_trip():
    far = DepthCodec(lam=-2.0, c=40.0)
    depth = np.geomspace(1, 300, 10_000).reshape(100, 100)
    rgb = far.encode(depth)
    assert not np.array_equal(rgb, DepthCodec().encode(depth))
    error = np.abs(far.path_position(far.decode(rgb).depth.astype(np.float64)) - far.path_position(depth))
    assert error.max() <= 0.5 + 1e-3
    with pytest.raises(InputError, match="lam"):
        DepthCodec(lam=0.5)
