"""Issue 23, phase 2: every decoding carries its calibrated reliability (``confidence`` is its alias) and,
for depth and normals, an expected error in metres / degrees; ensembles, the CLI and the adapters use them."""

from __future__ import annotations

import errno
import pickle

import numpy as np
import pytest
from PIL import Image

from vb_plugins import get_task
from vb_plugins.cli import main
from vb_plugins.codecs import DepthCodec, InstanceCodec, NormalsCodec, ReferringCodec, SemanticCodec
from vb_plugins.codecs._robust import _Path, depth_confidence, robust_depth
from vb_plugins.codecs.depth import DepthDecoding
from vb_plugins.ensemble import combine_depth, combine_normals
from vb_plugins.pointcloud import Intrinsics, read_ply, unproject
from vb_plugins.reliability import depth_reliability, fitting, normals_reliability, semantic_reliability
from vb_plugins.reliability.features import depth_positions, metres_per_step
from vb_plugins.reliability.noise import compress
from vb_plugins.training.synthetic import render_scene

LEGEND = fitting.legend_for("basic")


@pytest.fixture(scope="module")
def scene():
    return render_scene(9_100_000, 96, 128)


def wall(distance: float, height: int = 64, width: int = 80) -> np.ndarray:
    """A slanted wall around ``distance`` metres (linear in inverse depth, like a plane)."""
    v, u = np.mgrid[0:height, 0:width]
    return (distance / (1.0 + 0.6 * (u / width - 0.5) + 0.3 * (v / height - 0.5))).astype(np.float32)


def decodings(scene):
    """(task, decoding, unit) of every built-in codec on clean paintings of one rendered scene."""
    depth = fitting.clean_picture("depth", scene)
    normals = fitting.clean_picture("normals", scene)
    semantic = fitting.clean_picture("semantic", scene, "basic")
    ids = scene.semantic.astype(np.int32)
    return [
        ("depth", DepthCodec().decode(depth), "m"),
        ("normals", NormalsCodec().decode(normals), "deg"),
        ("semantic", SemanticCodec().decode(semantic, LEGEND), None),
        ("instance", InstanceCodec(min_area=20).decode(InstanceCodec().encode(ids)), None),
        ("referring", ReferringCodec().decode(ReferringCodec().encode(ids == ids.max())), None),
    ]


# -- on the decodings ----------------------------------------------------------------------------------------
def test_every_task_gets_a_reliability_in_range_and_confidence_is_its_alias(scene):
    for task, decoding, unit in decodings(scene):
        reliability = decoding.reliability
        assert reliability.dtype == np.float32 and reliability.shape == scene.semantic.shape, task
        assert np.isfinite(reliability).all() and reliability.min() >= 0 and reliability.max() <= 1, task
        assert decoding.confidence is reliability, task
        assert np.median(reliability) > 0.9, task  # clean paintings read right
        assert (decoding.expected_error is None) == (unit is None), task


def test_the_decodings_reliability_is_the_calibrated_one(scene):
    picture = fitting.clean_picture("depth", scene)
    decoding = DepthCodec().decode(picture, mode="robust")
    expected = depth_reliability(DepthCodec(), picture, decoding)
    assert np.array_equal(decoding.reliability, expected.reliability)
    assert np.array_equal(decoding.expected_error, expected.expected_error)
    normals = fitting.clean_picture("normals", scene)
    decoding = NormalsCodec().decode(normals, convention="opencv")
    expected = normals_reliability(NormalsCodec(), normals, decoding, "opencv")
    assert np.array_equal(decoding.reliability, expected.reliability)
    semantic = fitting.clean_picture("semantic", scene, "basic")
    decoding = SemanticCodec().decode(semantic, LEGEND, mode="exact")
    assert np.array_equal(decoding.reliability,
                          semantic_reliability(SemanticCodec(), semantic, decoding, LEGEND).reliability)


def test_reliability_is_computed_on_first_read_and_travels_in_pickles():
    codec = DepthCodec()
    picture = codec.encode(wall(8.0))
    decoding = codec.decode(picture)
    assert "confidence" not in vars(decoding) and "expected_error" not in vars(decoding)
    copied = pickle.loads(pickle.dumps(decoding))  # computes, and carries the arrays (no closure)
    assert "_pending_reliability" not in vars(copied)
    assert np.array_equal(copied.reliability, decoding.reliability)
    assert np.array_equal(copied.expected_error, decoding.expected_error)
    # built by hand without a picture: given values stay, missing ones come from the residual
    given = np.full((2, 2), 0.25, np.float32)
    by_hand = DepthDecoding(np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32), given)
    assert by_hand.confidence is given and by_hand.expected_error is None
    assert DepthDecoding(np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32)).reliability[0, 0] == 1.0


def test_depth_expected_error_is_metres_growing_as_the_path_step_does():
    codec = DepthCodec()
    path = _Path(codec)
    errors, steps = [], []
    for distance in (1.0, 4.0, 16.0, 40.0):
        decoding = codec.decode(codec.encode(wall(distance)), mode="robust")
        errors.append(float(np.median(decoding.expected_error)))
        steps.append(float(metres_per_step(path, np.float32(codec.path_position(np.float32(distance))))))
        # metres: well under the depth itself, of the order of one step of the colour path there
        assert 0 < errors[-1] < 0.05 * distance
    assert np.all(np.diff(errors) > 0)
    ratio = np.array(errors) / np.array(steps)
    assert ratio.max() / ratio.min() < 3.0
    sky = codec.decode(np.full((8, 8, 3), 255, np.uint8))
    assert np.isinf(sky.depth).all() and np.isinf(sky.expected_error).all()


def test_normals_expected_error_is_degrees_and_180_where_invalid(scene):
    codec = NormalsCodec()
    picture = fitting.clean_picture("normals", scene)
    picture[:6, :6] = 255  # white: not a normal
    decoding = codec.decode(picture)
    assert not decoding.valid[:6, :6].any()
    assert np.all(decoding.expected_error[~decoding.valid] == 180.0)
    assert np.all(decoding.reliability[~decoding.valid] == 0)
    inside = decoding.valid
    assert 0 < np.median(decoding.expected_error[inside]) < 5.0  # a clean normal map: within a few degrees


@pytest.mark.parametrize("task", ["depth", "normals", "semantic"])
def test_jpeg_lowers_reliability(scene, task):
    picture = fitting.clean_picture(task, scene, "basic")
    codec = {"depth": DepthCodec(), "normals": NormalsCodec(), "semantic": SemanticCodec()}[task]
    extra = (LEGEND,) if task == "semantic" else ()
    means = [float(codec.decode(compress(picture, ("jpeg", q)) if q else picture, *extra).reliability.mean())
             for q in (0, 90, 40)]
    assert means[0] > means[1] > means[2], means
    assert means[0] - means[2] > 0.02, means


def test_far_pixels_read_exactly_are_reliable_where_the_old_confidence_was_low():
    codec = DepthCodec()
    depth = wall(200.0)  # 140 .. 360 m: one path step there is 5 .. 13 % of the depth
    picture = codec.encode(depth)
    decoding = codec.decode(picture, mode="robust")
    s0, residual = depth_positions(codec, picture)
    s, error, _ = robust_depth(codec, picture, s0, residual)
    old = depth_confidence(_Path(codec), s, error)
    assert (old >= 0.1).mean() < 0.5  # the old confidence: most pixels under the old default threshold
    assert (decoding.reliability >= 0.5).mean() >= 0.95


# -- ensembles -----------------------------------------------------------------------------------------------
def test_ensembles_average_reliability_and_expected_error_and_keep_the_spread():
    codec = DepthCodec()
    near, far = codec.decode(codec.encode(wall(3.0))), codec.decode(codec.encode(wall(3.3)))
    combined = combine_depth([near, far])
    assert np.allclose(combined.reliability, (near.reliability + far.reliability) / 2, atol=1e-6)
    assert np.allclose(combined.expected_error, (near.expected_error + far.expected_error) / 2, rtol=1e-6)
    assert combined.uncertainty is not None and np.median(combined.uncertainty) > 0.1  # 0.3 m apart
    normals = NormalsCodec()
    vectors = np.zeros((8, 8, 3), np.float32)
    vectors[..., 2] = 1.0
    picture = normals.encode(vectors)
    picture[0, 0] = 255  # invalid in every sample
    both = combine_normals([normals.decode(picture), normals.decode(picture)])
    assert both.expected_error[0, 0] == 180.0 and both.reliability[0, 0] == 0
    assert np.allclose(both.expected_error[1:], normals.decode(picture).expected_error[1:])


# -- the CLI and point clouds ------------------------------------------------------------------------------
def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_vb_decode_writes_the_expected_error_in_task_units(tmp_path, capsys):
    depth = wall(12.0, 24, 32)
    Image.fromarray(get_task("depth").encode(depth)).save(tmp_path / "d.png")
    assert run(capsys, "decode", "depth", tmp_path / "d.png", tmp_path / "d.npy",
               "--expected-error", tmp_path / "err.npy", "--confidence", tmp_path / "rel.npy")[0] == 0
    decoding = DepthCodec().decode(np.asarray(Image.open(tmp_path / "d.png")))
    assert np.array_equal(np.load(tmp_path / "err.npy"), decoding.expected_error)
    assert np.array_equal(np.load(tmp_path / "rel.npy"), decoding.reliability)
    vectors = np.zeros((6, 7, 3), np.float32)
    vectors[..., 2] = 1.0
    Image.fromarray(get_task("normals").encode(vectors)).save(tmp_path / "n.png")
    assert run(capsys, "decode", "normals", tmp_path / "n.png", tmp_path / "n.npy",
               "--expected-error", tmp_path / "nerr.npy")[0] == 0
    degrees = np.load(tmp_path / "nerr.npy")
    assert degrees.shape == (6, 7) and 0 < degrees.max() < 5.0


def test_vb_decode_refuses_an_expected_error_for_labels_and_writes_nothing(tmp_path, capsys):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "m.png")
    code, out, err = run(capsys, "decode", "referring", tmp_path / "m.png", tmp_path / "mask.png",
                         "--expected-error", tmp_path / "err.npy")
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--expected-error" in err and "depth and normals" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png"]


def test_a_failed_expected_error_write_leaves_the_old_outputs(tmp_path, capsys, monkeypatch):
    Image.fromarray(get_task("depth").encode(wall(5.0, 12, 16))).save(tmp_path / "viz.png")
    np.save(tmp_path / "out.npy", np.full((2, 2), 7.0, np.float32))
    np.save(tmp_path / "err.npy", np.full((2, 2), 0.5, np.float32))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = np.save

    def save(file, *args, **kwargs):
        if "err.npy" in str(getattr(file, "name", file)):
            file.write(b"\x93NUMPY partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(file, *args, **kwargs)

    monkeypatch.setattr(np, "save", save)
    code, _, err = run(capsys, "decode", "depth", tmp_path / "viz.png", tmp_path / "out.npy",
                       "--expected-error", tmp_path / "err.npy", "--overwrite")
    assert code != 0 and "err.npy" in err and "disk full" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_point_clouds_leave_out_unreliable_pixels(tmp_path, capsys):
    depth = wall(4.0, 12, 16)
    reliability = np.ones(depth.shape, np.float32)
    reliability[:, :4] = 0.2
    intrinsics = Intrinsics.from_fov(12, 16, 60.0)
    assert len(unproject(depth, intrinsics)[0]) == depth.size
    assert len(unproject(depth, intrinsics, reliability=reliability)[0]) == depth.size - 12 * 4
    depth = wall(4.0)
    picture = get_task("depth").encode(depth)
    picture[20:30, 20:30] = (255, 0, 120)  # far off the colour path: unreliable
    Image.fromarray(picture).save(tmp_path / "viz.png")
    assert run(capsys, "pointcloud", tmp_path / "viz.png", tmp_path / "all.ply")[0] == 0
    assert run(capsys, "pointcloud", tmp_path / "viz.png", tmp_path / "kept.ply", "--min-reliability", "0.5")[0] == 0
    reliability = DepthCodec().decode(picture).reliability
    assert reliability[20:30, 20:30].max() < 0.5
    assert len(read_ply(tmp_path / "all.ply")[0]) == depth.size
    kept = len(read_ply(tmp_path / "kept.ply")[0])
    assert kept == (reliability >= 0.5).sum() and 0.9 * depth.size < kept <= depth.size - 100
    np.save(tmp_path / "d.npy", depth)
    code, _, err = run(capsys, "pointcloud", tmp_path / "d.npy", tmp_path / "x.ply", "--min-reliability", "0.5")
    assert code != 0 and "--reliability" in err and not (tmp_path / "x.ply").exists()
