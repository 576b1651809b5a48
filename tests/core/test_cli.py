import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vb_plugins.cli import main
from vb_plugins.codecs import DepthCodec
from vb_plugins.io import read_rgb

LEGEND = '{"cat": "red", "background": "#ffff00"}'


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


def test_tasks_lists_names_first(capsys):
    code, out, _ = run(capsys, "tasks")
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()][:5] == ["depth", "normals", "semantic", "instance",
                                                                       "referring"]


def test_depth_encode_decode_round_trip(tmp_path, capsys):
    depth = np.geomspace(0.3, 80, 48 * 64).reshape(48, 64).astype(np.float32)
    np.save(tmp_path / "d.npy", depth)
    assert run(capsys, "encode", "depth", tmp_path / "d.npy", tmp_path / "d.png")[0] == 0
    assert run(capsys, "decode", "depth", tmp_path / "d.png", tmp_path / "out.npy",
               "--confidence", tmp_path / "conf.npy")[0] == 0
    decoded = np.load(tmp_path / "out.npy")
    assert decoded.dtype == np.float32 and decoded.shape == depth.shape
    assert np.allclose(decoded, depth, rtol=0.02)
    # --confidence writes the decoding's reliability (issue 23), the library's own
    assert np.array_equal(np.load(tmp_path / "conf.npy"), DepthCodec().decode(read_rgb(tmp_path / "d.png")).reliability)


def test_normals_round_trip(tmp_path, capsys):
    normals = np.random.default_rng(0).normal(size=(16, 16, 3))
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    np.save(tmp_path / "n.npy", normals)
    assert run(capsys, "encode", "normals", tmp_path / "n.npy", tmp_path / "n.png")[0] == 0
    assert run(capsys, "decode", "normals", tmp_path / "n.png", tmp_path / "o.npy")[0] == 0
    decoded = np.load(tmp_path / "o.npy")
    assert decoded.dtype == np.float32 and decoded.shape == (16, 16, 3)
    assert np.degrees(np.arccos(np.clip((decoded * normals).sum(2), -1, 1))).max() < 0.6


def test_semantic_decode_writes_label_png(tmp_path, capsys):
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[:, :4] = (250, 5, 5)
    rgb[:, 4:8] = (255, 255, 0)
    Image.fromarray(rgb).save(tmp_path / "s.png")
    assert run(capsys, "decode", "semantic", tmp_path / "s.png", tmp_path / "labels.png", "--classes", LEGEND)[0] == 0
    labels = np.asarray(Image.open(tmp_path / "labels.png"))
    assert labels.dtype == np.uint8
    assert (labels[:, :4] == 1).all() and (labels[:, 4:8] == 2).all() and (labels[:, 8:] == 0).all()


def test_instance_and_referring_decode(tmp_path, capsys):
    rgb = np.zeros((30, 30, 3), np.uint8)  # black: the default background
    rgb[2:14, 2:14] = (255, 0, 0)
    rgb[16:28, 16:28] = (0, 0, 255)
    Image.fromarray(rgb).save(tmp_path / "i.png")
    assert run(capsys, "decode", "instance", tmp_path / "i.png", tmp_path / "ids.png")[0] == 0
    ids = np.asarray(Image.open(tmp_path / "ids.png"))
    assert ids.dtype == np.uint16 and sorted(np.unique(ids).tolist()) == [0, 1, 2]
    assert (ids[2:14, 2:14] == 1).all() and (ids[16:28, 16:28] == 2).all()
    assert run(capsys, "decode", "referring", tmp_path / "i.png", tmp_path / "m.png", "--colour", "blue")[0] == 0
    mask = np.asarray(Image.open(tmp_path / "m.png"))
    assert set(np.unique(mask).tolist()) == {0, 255} and (mask[16:28, 16:28] == 255).all() and mask.sum() == 144 * 255


def test_prompt(capsys):
    code, out, _ = run(capsys, "prompt", "depth")
    assert code == 0 and out.strip() == "Generate a metric depth map of the input image."
    code, out, _ = run(capsys, "prompt", "referring", "--expression", "the cat on the left")
    assert code == 0 and "The cat on the left is represented by a solid white." in out


@pytest.fixture
def files(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    np.save(tmp_path / "flat.npy", np.zeros((4, 4, 2)))
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    (tmp_path / "text.npy").write_text("nope")
    return tmp_path


@pytest.mark.parametrize("args, fragments", [
    (["decode", "depth", "{d}/missing.png", "{d}/o.npy"], ["missing.png", "no such file"]),
    (["decode", "depth", "{d}/broken.png", "{d}/o.npy"], ["broken.png", "not a readable image"]),
    (["decode", "depth", "{d}/ok.png", "{d}/o.png"], ["o.png", ".npy"]),
    (["encode", "depth", "{d}/flat.npy", "{d}/o.png"], ["flat.npy", "H x W"]),
    (["encode", "depth", "{d}/nan.npy", "{d}/o.png"], ["nan.npy", "NaN"]),
    (["encode", "depth", "{d}/text.npy", "{d}/o.png"], ["text.npy", "not a readable .npy"]),
    (["encode", "normals", "{d}/flat.npy", "{d}/o.png"], ["flat.npy", "H x W x 3"]),
    (["decode", "semantic", "{d}/ok.png", "{d}/o.png", "--classes", "{{cat: red}}"], ["classes", "invalid JSON"]),
    (["decode", "semantic", "{d}/ok.png", "{d}/o.png", "--classes", '{{"cat": "redish"}}'], ["'cat'", "redish"]),
    (["decode", "semantic", "{d}/ok.png", "{d}/o.png"], ["semantic", "needs classes"]),
    (["decode", "referring", "{d}/ok.png", "{d}/o.png", "--colour", "nocolour"], ["nocolour"]),
    (["decode", "instance", "{d}/ok.png", "{d}/o.png", "--background", "(1,2)"], ["(1,2)"]),
    (["decode", "nosuchtask", "{d}/ok.png", "{d}/o.png"], ["unknown task 'nosuchtask'"]),
    (["decode", "depth", "{d}/ok.png", "{d}/o.npy", "--set", "lam=abc"], ["lam", "abc"]),
    (["prompt", "depth", "--classes", "cat"], ["depth", "classes"]),
    (["prompt", "referring"], ["expression"]),
    (["prompt", "depth", "--dialect", "klingon"], ["klingon"]),
])
def test_bad_input_gives_one_line_error_and_writes_nothing(files, capsys, args, fragments):
    before = set(files.iterdir())
    code, _, err = run(capsys, *[a.format(d=files) for a in args])
    assert_one_line_error(code, err, *fragments)
    assert set(files.iterdir()) == before


def test_existing_output_is_not_overwritten_unless_asked(files, capsys):
    target = files / "out.npy"
    target.write_bytes(b"keep me")
    code, _, err = run(capsys, "decode", "depth", files / "ok.png", target)
    assert_one_line_error(code, err, "out.npy", "already exists")
    assert target.read_bytes() == b"keep me"
    assert run(capsys, "decode", "depth", files / "ok.png", target, "--overwrite")[0] == 0
    assert np.load(target).shape == (8, 8)


def test_console_entry_point_exit_status(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vb_plugins.cli", "decode", "depth", str(tmp_path / "x.png"),
                             str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "x.png: no such file" in result.stderr
