"""The cached ComfyUI the end-to-end tests use when COMFYUI_DIR is not set: where its source tarball is
looked for, that it is unpacked once per tarball, and the server environment layered over this one."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import numpy
import pytest
from comfy_env import ComfyEnvError, find_tarball, server_python, tarball_folders, unpack_comfyui


def make_tarball(path: Path, files: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_tarball_is_looked_for_in_vb_shared_dir_then_beside_the_checkout():
    project = Path("/somewhere/vb-plugins")
    assert tarball_folders(project, {"VB_SHARED_DIR": "/data/shared"})[:2] == [
        Path("/data/shared/comfyui"), Path("/somewhere/shared/comfyui")]
    assert tarball_folders(project, {})[0] == Path("/somewhere/shared/comfyui")


def test_first_folder_holding_a_tarball_wins(tmp_path):
    first, second, empty = tmp_path / "first", tmp_path / "second", tmp_path / "empty"
    empty.mkdir()
    make_tarball(first / "ComfyUI-v1.tar.gz", {"comfyui/main.py": ""})
    newer = make_tarball(first / "ComfyUI-v2.tar.gz", {"comfyui/main.py": ""})
    make_tarball(second / "ComfyUI-v3.tar.gz", {"comfyui/main.py": ""})
    assert find_tarball([tmp_path / "missing", empty, first, second]) == newer
    assert find_tarball([tmp_path / "missing", empty]) is None


def test_source_is_unpacked_once_per_tarball(tmp_path):
    tarball = make_tarball(tmp_path / "ComfyUI-v1.tar.gz", {"comfyui/main.py": "print('v1')\n",
                                                            "comfyui/requirements.txt": "numpy\n"})
    first = unpack_comfyui(tarball, tmp_path / "cache")
    assert (first / "main.py").read_text() == "print('v1')\n"
    (first / "left-by-a-run.txt").write_text("kept")
    assert unpack_comfyui(tarball, tmp_path / "cache") == first
    assert (first / "left-by-a-run.txt").exists()  # not unpacked again
    other = make_tarball(tmp_path / "ComfyUI-v2.tar.gz", {"comfyui/main.py": "print('v2')\n"})
    second = unpack_comfyui(other, tmp_path / "cache")
    assert second != first and (second / "main.py").read_text() == "print('v2')\n"


def test_tarball_without_a_comfyui_main_py_is_refused(tmp_path):
    tarball = make_tarball(tmp_path / "ComfyUI-bad.tar.gz", {"something/else.py": ""})
    with pytest.raises(ComfyEnvError, match="expected one <folder>/main.py"):
        unpack_comfyui(tarball, tmp_path / "cache")
    assert not any((tmp_path / "cache" / "comfyui").glob("*/comfyui"))


@pytest.mark.slow
def test_server_environment_sees_the_test_packages_and_is_rebuilt_only_when_requirements_change(tmp_path):
    comfyui = tmp_path / "ComfyUI"
    comfyui.mkdir()
    (comfyui / "requirements.txt").write_text("numpy\n")  # already in the test environment
    python = server_python(comfyui, root=tmp_path / "cache", extra_requirements=())
    assert python.is_relative_to(tmp_path / "cache")
    shown = subprocess.run([str(python), "-c", "import numpy, vb_plugins; print(numpy.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(shown).is_relative_to(Path(numpy.__file__).parents[1])  # shared, not installed again
    stamp = python.parents[1] / "vb-tests-stamp.json"
    built = stamp.stat().st_mtime_ns
    assert server_python(comfyui, root=tmp_path / "cache", extra_requirements=()) == python
    assert stamp.stat().st_mtime_ns == built
    (comfyui / "requirements.txt").write_text("numpy\nscipy\n")
    assert server_python(comfyui, root=tmp_path / "cache", extra_requirements=()) == python
    assert stamp.stat().st_mtime_ns != built


def test_missing_requirements_file_is_an_error(tmp_path):
    (tmp_path / "ComfyUI").mkdir()
    with pytest.raises(ComfyEnvError, match="requirements.txt does not exist"):
        server_python(tmp_path / "ComfyUI", root=tmp_path / "cache")
