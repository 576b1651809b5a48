import math

import numpy as np
import pytest

from vb_plugins.cli import main
from vb_plugins.errors import InputError
from vb_plugins.pointcloud import Intrinsics, read_ply, unproject, write_ply


def test_fronto_parallel_plane_unprojects_to_a_plane_at_its_depth():
    depth = np.full((30, 40), 3.0)
    intrinsics = Intrinsics.from_fov(30, 40, 90.0)
    assert intrinsics.fx == pytest.approx(20.0) and intrinsics.assumed
    points, _ = unproject(depth, intrinsics)
    assert points.shape == (1200, 3) and np.allclose(points[:, 2], -3.0)
    # With a 90 degree field of view the image edges sit at x = +-z (half a pixel inside).
    assert points[:, 0].max() == pytest.approx(3.0 * 19.5 / 20.0)
    assert points[:, 1].max() == pytest.approx(3.0 * 14.5 / 20.0)  # top row is +y (up)


def test_given_intrinsics_and_invalid_pixels():
    depth = np.array([[2.0, np.inf], [np.nan, 4.0]])
    points, colours = unproject(depth, Intrinsics.parse("2,2,0,0"), np.full((2, 2, 3), 7, np.uint8))
    assert points.tolist() == [[0.0, -0.0, -2.0], [2.0, -2.0, -4.0]]
    assert colours.tolist() == [[7, 7, 7], [7, 7, 7]]
    with pytest.raises(InputError, match="fx,fy,cx,cy"):
        Intrinsics.parse("1,2,3")


def test_ply_round_trip(tmp_path):
    points = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    colours = np.random.default_rng(1).integers(0, 256, (50, 3), dtype=np.uint8)
    write_ply(tmp_path / "a.ply", points, colours, ["hello"])
    read_points, read_colours, comments = read_ply(tmp_path / "a.ply")
    assert np.array_equal(read_points, points) and np.array_equal(read_colours, colours)
    assert comments == ["hello"]


def test_cli_states_the_assumed_field_of_view(tmp_path, capsys):
    np.save(tmp_path / "d.npy", np.full((8, 8), 2.0, np.float32))
    assert main(["pointcloud", str(tmp_path / "d.npy"), str(tmp_path / "p.ply"), "--fov", "70"]) == 0
    err = capsys.readouterr().err
    assert "64 points" in err and "assumed" in err
    points, _, comments = read_ply(tmp_path / "p.ply")
    focal = 4.0 / math.tan(math.radians(35))
    assert any(f"fx={focal:.2f}" in c and "assumed" in c for c in comments)
    assert main(["pointcloud", str(tmp_path / "d.npy"), str(tmp_path / "p.ply")]) == 1  # exists
