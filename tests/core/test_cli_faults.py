"""Faults and hostile inputs in `vb`: one line, a non-zero exit, no traceback, and nothing on disk changed.

OS faults (read-only file system, disk full, permission denied) are simulated in-process at the system
call the write goes through, with the errno the kernel gives, so the tests are deterministic.
"""

from __future__ import annotations

import errno
import os
import struct
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vb_plugins import get_task
from vb_plugins.cli import codec_commands, main

LEGEND = '{"cat": "red", "background": "#ffff00"}'


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes: compared before and after a failing command."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *fragments, exit_code=1):
    assert code == exit_code
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def folder(tmp_path):
    depth = np.geomspace(0.5, 40, 12 * 16).reshape(12, 16).astype(np.float32)
    np.save(tmp_path / "d.npy", depth)
    Image.fromarray(get_task("depth").encode(depth)).save(tmp_path / "viz.png")
    return tmp_path


# -- the guard ------------------------------------------------------------------------------------------------

def _explode(args):
    raise RuntimeError("something broke\ninside")


def test_unexpected_exception_is_one_line_with_a_debug_hint(folder, capsys, monkeypatch):
    monkeypatch.setattr(codec_commands, "run_prompt", _explode)
    before = snapshot(folder)
    code, out, err = run(capsys, "prompt", "depth")
    line = assert_one_line_error(code, out, err, "vb prompt: error: RuntimeError: something broke inside",
                                 "run with --debug for the traceback")
    assert line.startswith("vb prompt: error:")
    assert snapshot(folder) == before


@pytest.mark.parametrize("argv", [["--debug", "prompt", "depth"], ["prompt", "depth", "--debug"]])
def test_debug_before_or_after_the_command_shows_the_traceback(capsys, monkeypatch, argv):
    monkeypatch.setattr(codec_commands, "run_prompt", _explode)
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "Traceback (most recent call last)" in err and "RuntimeError: something broke" in err
    assert err.strip().splitlines()[-1] == "vb prompt: error: RuntimeError: something broke inside"


def test_debug_flag_leaves_a_normal_run_alone(capsys):
    code, out, err = run(capsys, "--debug", "prompt", "depth")
    assert code == 0 and out.strip() == "Generate a metric depth map of the input image." and not err


def test_keyboard_interrupt_is_one_line_and_exit_130(folder, capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(codec_commands, "run_decode", interrupted)
    before = snapshot(folder)
    code, out, err = run(capsys, "decode", "depth", folder / "viz.png", folder / "o.npy")
    assert_one_line_error(code, out, err, "vb decode: interrupted", exit_code=130)
    assert snapshot(folder) == before


def test_an_os_error_that_reaches_the_guard_names_its_path(capsys, monkeypatch):
    def denied(args):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/data/out.npy")

    monkeypatch.setattr(codec_commands, "run_prompt", denied)
    code, out, err = run(capsys, "prompt", "depth")
    assert_one_line_error(code, out, err, "vb prompt: error: /srv/data/out.npy: permission denied")


# -- a mistyped option ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, usage, unknown", [
    (["decode", "depth", "a.png", "b.npy", "--confidense", "x"], "usage: vb decode", "--confidense x"),
    (["pointcloud", "d.npy", "p.ply", "--fvo", "50"], "usage: vb pointcloud", "--fvo 50"),
    (["fiftyone", "install", "--bogus"], "usage: vb fiftyone install", "--bogus"),
])
def test_a_mistyped_option_shows_the_subcommands_usage(capsys, argv, usage, unknown):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage), err
    assert "usage: vb [-h]" not in err and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"{usage[7:]}: error: unrecognized arguments: {unknown}"


# -- OS faults while writing ------------------------------------------------------------------------------------

def _failing_mkstemp(monkeypatch, folder: Path, code: int):
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == folder:
            raise OSError(code, os.strerror(code), str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only file system"),
                                         (errno.EACCES, "permission denied")])
def test_unwritable_output_folder_is_one_line(folder, capsys, monkeypatch, code, words):
    (folder / "o.png").write_bytes(b"old visualization")
    before = snapshot(folder)
    _failing_mkstemp(monkeypatch, folder, code)
    result = run(capsys, "encode", "depth", folder / "d.npy", folder / "o.png", "--overwrite")
    assert_one_line_error(*result, f"{folder / 'o.png'}: cannot write: {words}")
    assert snapshot(folder) == before


def _disk_full_on(monkeypatch, fragment: str):
    """np.save raises ENOSPC (as a full disk does, mid-write) when writing a file whose name has ``fragment``."""
    real = np.save

    def save(file, *args, **kwargs):
        name = getattr(file, "name", str(file))
        if fragment in str(name):
            file.write(b"\x93NUMPY partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(file, *args, **kwargs)

    monkeypatch.setattr(np, "save", save)


def test_disk_full_writing_the_confidence_keeps_both_old_outputs(folder, capsys, monkeypatch):
    np.save(folder / "out.npy", np.full((2, 2), 7.0, np.float32))
    np.save(folder / "conf.npy", np.full((2, 2), 0.5, np.float32))
    before = snapshot(folder)
    _disk_full_on(monkeypatch, "conf.npy")
    result = run(capsys, "decode", "depth", folder / "viz.png", folder / "out.npy", "--confidence",
                 folder / "conf.npy", "--overwrite")
    assert_one_line_error(*result, f"{folder / 'conf.npy'}: cannot write: no space left on the device (disk full)")
    assert snapshot(folder) == before  # the values written first were not moved into place; no temporaries


def test_disk_full_writing_the_values_is_one_line(folder, capsys, monkeypatch):
    np.save(folder / "out.npy", np.full((2, 2), 7.0, np.float32))
    before = snapshot(folder)
    _disk_full_on(monkeypatch, "out.npy")
    result = run(capsys, "decode", "depth", folder / "viz.png", folder / "out.npy", "--overwrite")
    assert_one_line_error(*result, "out.npy: cannot write: no space left on the device (disk full)")
    assert snapshot(folder) == before


def test_overwrite_replaces_every_output_when_all_writes_succeed(folder, capsys):
    np.save(folder / "out.npy", np.full((2, 2), 7.0, np.float32))
    np.save(folder / "conf.npy", np.full((2, 2), 0.5, np.float32))
    assert run(capsys, "decode", "depth", folder / "viz.png", folder / "out.npy", "--confidence",
               folder / "conf.npy", "--overwrite")[0] == 0
    assert np.load(folder / "out.npy").shape == (12, 16) and np.load(folder / "conf.npy").shape == (12, 16)
    assert sorted(p.name for p in folder.iterdir()) == ["conf.npy", "d.npy", "out.npy", "viz.png"]


@pytest.mark.parametrize("command", [
    ["decode", "depth", "{d}/viz.png", "{d}/taken.npy", "--overwrite"],
    ["encode", "depth", "{d}/d.npy", "{d}/taken.png", "--overwrite"],
    ["pointcloud", "{d}/d.npy", "{d}/taken.ply", "--overwrite"],
    ["decode", "depth", "{d}/viz.png", "{d}/o.npy", "--confidence", "{d}/taken.npy", "--overwrite"],
])
def test_output_path_that_is_a_directory_is_one_line(folder, capsys, command):
    for name in ("taken.npy", "taken.png", "taken.ply"):
        (folder / name).mkdir()
        (folder / name / "keep.txt").write_text("mine")
    before = snapshot(folder)
    result = run(capsys, *[a.format(d=folder) for a in command])
    assert_one_line_error(*result, "taken.", "is a directory")
    assert snapshot(folder) == before


# -- item 7: two outputs, one file ------------------------------------------------------------------------------

@pytest.mark.parametrize("confidence", ["{d}/out.npy", "{d}/sub/../out.npy", "{d}/link.npy"])
def test_confidence_equal_to_the_output_is_refused(folder, capsys, confidence):
    np.save(folder / "out.npy", np.full((2, 2), 7.0, np.float32))
    (folder / "sub").mkdir()
    (folder / "link.npy").symlink_to(folder / "out.npy")
    before = snapshot(folder)
    result = run(capsys, "decode", "depth", folder / "viz.png", folder / "out.npy", "--confidence",
                 confidence.format(d=folder), "--overwrite")
    assert_one_line_error(*result, "--confidence and OUTPUT name the same file")
    assert snapshot(folder) == before


def test_output_equal_to_the_input_is_refused(folder, capsys):
    labels = np.zeros((6, 6), np.uint8)
    labels[:, 3:] = 1
    Image.fromarray(labels).save(folder / "labels.png")
    before = snapshot(folder)
    result = run(capsys, "encode", "semantic", folder / "labels.png", folder / "labels.png", "--classes", LEGEND,
                 "--overwrite")
    assert_one_line_error(*result, "OUTPUT and INPUT name the same file")
    assert snapshot(folder) == before


# -- hostile files ----------------------------------------------------------------------------------------------

def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares ``width`` x ``height`` 1-bit pixels and holds no pixel data (a bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [10_000, 20_000])  # above Pillow's limit; above twice it (its hard error)
def test_decompression_bomb_is_refused_with_its_pixel_count(folder, capsys, side):
    _png_header_only(folder / "bomb.png", side, side)
    before = snapshot(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(capsys, "decode", "depth", folder / "bomb.png", folder / "o.npy")
    line = assert_one_line_error(*result, "bomb.png", f"{side * side:,} pixels", "89,478,485",
                                 "PIL.Image.MAX_IMAGE_PIXELS")
    assert "decompression bomb" in line
    assert not [w for w in caught if "DecompressionBomb" in type(w.message).__name__]
    assert snapshot(folder) == before


def test_image_limit_follows_pillows_setting(folder, capsys, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    result = run(capsys, "decode", "depth", folder / "viz.png", folder / "o.npy")
    assert_one_line_error(*result, "viz.png", "192 pixels exceeds the limit of 100")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    assert run(capsys, "decode", "depth", folder / "viz.png", folder / "o.npy")[0] == 0


def _forged_npy(path: Path, shape=(100_000, 100_000)) -> None:
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
        handle.write(b"\0" * 64)


@pytest.mark.parametrize("command", [["encode", "depth", "{d}/forged.npy", "{d}/o.png"],
                                     ["pointcloud", "{d}/forged.npy", "{d}/o.ply"]])
def test_forged_npy_header_is_refused_before_allocating(folder, capsys, command):
    _forged_npy(folder / "forged.npy")
    before = snapshot(folder)
    result = run(capsys, *[a.format(d=folder) for a in command])
    assert_one_line_error(*result, "forged.npy", "shape (100000, 100000)", "37.25 GiB", "holds 64 bytes")
    assert snapshot(folder) == before


def test_truncated_npy_is_refused_and_an_honest_one_still_loads(folder, capsys):
    from vb_plugins.io import load_npy

    data = (folder / "d.npy").read_bytes()
    (folder / "cut.npy").write_bytes(data[:-4])
    before = snapshot(folder)
    result = run(capsys, "encode", "depth", folder / "cut.npy", folder / "o.png")
    assert_one_line_error(*result, "cut.npy", "holds")
    assert snapshot(folder) == before
    np.save(folder / "v2.npy", np.arange(6, dtype=np.int16).reshape(2, 3))
    assert load_npy(folder / "v2.npy").tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("args, fragments", [
    (["prompt", "semantic", "--classes", '{"cat": [NaN, 0, 0]}'], ["colour of 'cat'", "finite"]),
    (["prompt", "semantic", "--classes", '{"cat": [Infinity, 0, 0]}'], ["colour of 'cat'", "finite"]),
    (["prompt", "semantic", "--classes", '{"cat": [1e400, 0, 0]}'], ["colour of 'cat'", "finite"]),
    (["decode", "semantic", "{d}/viz.png", "{d}/o.png", "--classes", '{"cat": [NaN, 0, 0]}'], ["'cat'", "finite"]),
    (["decode", "semantic", "{d}/viz.png", "{d}/o.png", "--classes", '{"cat": "(nan, 0, 0)"}'], ["(nan, 0, 0)"]),
    (["decode", "referring", "{d}/viz.png", "{d}/o.png", "--colour", "rgb(nan,0,0)"], ["rgb(nan,0,0)"]),
    (["prompt", "referring", "--expression", "x", "--colour", "(nan, 0, 0)"], ["(nan, 0, 0)"]),
])
def test_nan_colour_components_are_one_line(folder, capsys, args, fragments):
    before = snapshot(folder)
    result = run(capsys, *[a.replace("{d}", str(folder)) for a in args])
    assert_one_line_error(*result, *fragments)
    assert snapshot(folder) == before


def test_nan_colour_components_in_python_raise_input_error():
    from vb_plugins.codecs.colors import parse_colour
    from vb_plugins.errors import InputError

    for value in [(float("nan"), 0, 0), np.array([np.inf, 0, 0])]:
        with pytest.raises(InputError, match="finite"):
            parse_colour(value)


@pytest.mark.parametrize("nested", ["[" * 50_000 + "]" * 50_000, '{"a": ' * 50_000 + "1" + "}" * 50_000])
@pytest.mark.parametrize("command", [["prompt", "semantic"], ["decode", "semantic", "{d}/viz.png", "{d}/o.png"]])
def test_json_nested_50000_deep_is_one_line_naming_the_input(folder, capsys, nested, command):
    before = snapshot(folder)
    result = run(capsys, *[a.replace("{d}", str(folder)) for a in command], "--classes", nested)
    assert_one_line_error(*result, "classes: JSON nested too deeply")
    assert snapshot(folder) == before
