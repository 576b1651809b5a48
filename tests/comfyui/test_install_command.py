"""`vb comfyui install|uninstall|path`: the node pack lands in ComfyUI's custom_nodes folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from vb_plugins.cli import main

PACK = Path(__file__).resolve().parents[2] / "comfyui_nodes"


@pytest.fixture
def comfyui(tmp_path):
    root = tmp_path / "ComfyUI"
    root.mkdir()
    (root / "main.py").write_text("# ComfyUI\n")
    return root


def test_install_links_the_pack_and_uninstall_removes_only_the_link(comfyui, capsys):
    assert main(["comfyui", "install", "--comfyui-dir", str(comfyui)]) == 0
    link = comfyui / "custom_nodes" / "vb-plugins"
    assert link.is_symlink() and link.resolve() == PACK.resolve()
    assert (link / "__init__.py").is_file() and (link / "workflows" / "vb_generate_depth_normals.api.json").is_file()
    assert "requirements.txt" in capsys.readouterr().err

    assert main(["comfyui", "install", "--comfyui-dir", str(comfyui)]) == 0  # again: nothing to do
    assert "already installed" in capsys.readouterr().err

    assert main(["comfyui", "uninstall", "--comfyui-dir", str(comfyui)]) == 0
    assert not link.exists() and not link.is_symlink()
    assert (PACK / "__init__.py").is_file()  # the pack itself is untouched


def test_install_copy_and_force(comfyui, monkeypatch, capsys):
    monkeypatch.setenv("COMFYUI_DIR", str(comfyui))
    destination = comfyui / "custom_nodes" / "vb-plugins"
    destination.mkdir(parents=True)
    (destination / "old.txt").write_text("someone else's folder")
    assert main(["comfyui", "install", "--copy"]) == 1
    assert "already exists (pass --force to replace it)" in capsys.readouterr().err
    assert (destination / "old.txt").is_file()

    assert main(["comfyui", "install", "--copy", "--force"]) == 0
    assert not destination.is_symlink() and not (destination / "old.txt").exists()
    assert (destination / "schema_nodes.py").read_bytes() == (PACK / "schema_nodes.py").read_bytes()
    assert not list(destination.rglob("__pycache__"))


def test_install_refuses_a_folder_that_is_not_comfyui(tmp_path, capsys):
    assert main(["comfyui", "install", "--comfyui-dir", str(tmp_path)]) == 1
    assert "not a ComfyUI folder (no main.py)" in capsys.readouterr().err
    assert not (tmp_path / "custom_nodes").exists()


def test_path_prints_the_pack_folder(capsys):
    assert main(["comfyui", "path"]) == 0
    assert Path(capsys.readouterr().out.strip()).resolve() == PACK.resolve()
