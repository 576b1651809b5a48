import numpy as np
import pytest

import vb_plugins
from vb_plugins.codecs import NormalsCodec, convert_normals, from_lub, to_lub
from vb_plugins.errors import InputError


def random_normals(shape, seed=0):
    n = np.random.default_rng(seed).normal(size=shape + (3,))
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def angles_deg(a, b):
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))


def test_published_colours():
    codec = vb_plugins.get_task("normals").codec
    facing = np.array([[[-1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=float)  # left, up, towards the camera
    rgb = codec.encode(facing)
    assert rgb[0, 0].tolist() == [255, 128, 128]  # pinkish red
    assert rgb[0, 1].tolist() == [128, 255, 128]  # light green
    assert rgb[0, 2].tolist() == [128, 128, 255]  # light blue


def test_round_trip_is_within_8bit_quantisation():
    codec = NormalsCodec()
    normals = random_normals((128, 128))
    decoded, valid = codec.decode(codec.encode(normals))
    assert valid.all()
    assert angles_deg(decoded, normals).max() < 0.6
    assert np.allclose(np.linalg.norm(decoded, axis=-1), 1, atol=1e-5)


def test_off_sphere_colours_are_invalid():
    codec = NormalsCodec()
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [128, 128, 128], [128, 128, 255]]], np.uint8)
    decoding = codec.decode(rgb)
    assert decoding.valid.tolist() == [[False, False, False, True]]
    assert np.all(decoding.normals[~decoding.valid] == 0)
    assert decoding.confidence[0, 3] > 0.9 and np.all(decoding.confidence[~decoding.valid] == 0)


def test_conventions():
    n = random_normals((4, 4), seed=1)
    assert np.allclose(to_lub(n, "opengl"), n * [-1, 1, 1])
    assert np.allclose(to_lub(n, "marigold"), n * [-1, 1, 1])
    assert np.allclose(to_lub(n, "opencv"), n * [-1, -1, 1])
    assert np.allclose(to_lub(n, "omnidata"), n * [-1, -1, 1])
    assert np.allclose(from_lub(to_lub(n, "opencv"), "opencv"), n)
    assert np.allclose(convert_normals(n, "camera", "opengl"), n)
    # The colour is the LUB vector mapped to 0..1, whatever frame the vectors came in.
    codec = NormalsCodec()
    assert np.array_equal(codec.encode(n, convention="opencv"), codec.encode(from_lub(to_lub(n, "opencv"))))
    decoded = codec.decode(codec.encode(n, convention="opencv"), convention="opencv").normals
    assert angles_deg(decoded, n).max() < 0.6
    with pytest.raises(InputError, match="convention 'dx'"):
        to_lub(n, "dx")


def test_invalid_normals_rejected_or_filled():
    codec = NormalsCodec()
    n = random_normals((2, 2))
    n[0, 0] = 0
    with pytest.raises(InputError, match="1 vectors are zero-length"):
        codec.encode(n)
    assert codec.encode(n, invalid="fill")[0, 0].tolist() == [0, 0, 0]
    with pytest.raises(InputError, match="H x W x 3"):
        codec.encode(np.zeros((4, 4)))
