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


# -- bad cameras and bad depth files: one line, nothing written ---------------------------------------------------

def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def depth_folder(tmp_path):
    np.save(tmp_path / "d.npy", np.full((8, 8), 2.0, np.float32))
    (tmp_path / "old.ply").write_bytes(b"an old cloud")
    return tmp_path


def _fails_with_one_line(capsys, folder, argv, *fragments):
    before = _snapshot(folder)
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert _snapshot(folder) == before
    return lines[0]


@pytest.mark.parametrize("text", ["nan,500,4,4", "500,inf,4,4", "500,500,nan,4", "500,500,4,-inf"])
def test_non_finite_intrinsics_are_refused(depth_folder, capsys, text):
    _fails_with_one_line(capsys, depth_folder, ["pointcloud", depth_folder / "d.npy", depth_folder / "old.ply",
                                                "--overwrite", "--intrinsics", text], text, "NaN or infinite")
    with pytest.raises(InputError, match="NaN or infinite"):
        Intrinsics.parse(text)


@pytest.mark.parametrize("fov", ["0", "-30", "180", "200", "nan", "inf"])
def test_field_of_view_outside_0_to_180_is_refused(depth_folder, capsys, fov):
    _fails_with_one_line(capsys, depth_folder, ["pointcloud", depth_folder / "d.npy", depth_folder / "old.ply",
                                                "--overwrite", "--fov", fov], "field of view", "between 1 and 179")


def test_empty_intrinsics_are_refused_not_replaced_by_the_default(depth_folder, capsys):
    _fails_with_one_line(capsys, depth_folder, ["pointcloud", depth_folder / "d.npy", depth_folder / "old.ply",
                                                "--overwrite", "--intrinsics", ""], "intrinsics ''", "fx,fy,cx,cy")


@pytest.mark.parametrize("array, dtype_name", [
    (np.full((4, 4), 2 + 1j, np.complex64), "complex64"),
    (np.ones((4, 4), bool), "bool"),
    (np.array([["a"] * 4] * 4), "<U1"),
    (np.zeros((4, 4), [("z", "<f4"), ("w", "<f4")]), "[('z', '<f4'), ('w', '<f4')]"),
])
def test_non_numeric_depth_arrays_are_refused(depth_folder, capsys, array, dtype_name):
    np.save(depth_folder / "odd.npy", array)
    _fails_with_one_line(capsys, depth_folder, ["pointcloud", depth_folder / "odd.npy", depth_folder / "new.ply"],
                         "odd.npy", f"expected real numbers (metres), got dtype {dtype_name}")
    with pytest.raises(InputError, match="expected real numbers"):
        unproject(array, Intrinsics.parse("2,2,0,0"))


def test_object_depth_array_is_refused(depth_folder, capsys):
    np.save(depth_folder / "objects.npy", np.array([[None, 1.0]], dtype=object), allow_pickle=True)
    _fails_with_one_line(capsys, depth_folder, ["pointcloud", depth_folder / "objects.npy", depth_folder / "new.ply"],
                         "objects.npy", "not a readable .npy array")


@pytest.mark.parametrize("output", ["old.ply", "x.txt", "missing-dir/x.ply"])
def test_a_missing_input_is_reported_before_anything_about_the_output(depth_folder, capsys, output):
    _fails_with_one_line(capsys, depth_folder, ["pointcloud", depth_folder / "nope.npy", depth_folder / output],
                         "nope.npy: no such file")


def test_given_intrinsics_still_work(depth_folder, capsys):
    assert main(["pointcloud", str(depth_folder / "d.npy"), str(depth_folder / "p.ply"),
                 "--intrinsics", "4,4,3.5,3.5"]) == 0
    points, _, comments = read_ply(depth_folder / "p.ply")
    assert len(points) == 64 and any("fx=4.00" in c and "given" in c for c in comments)
