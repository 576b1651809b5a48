"""`vb fiftyone uninstall` and `vb comfyui uninstall` remove only what `install` made: the link to this
package's adapter folder or a copy holding install's marker; anything else under the name stays
(issue 15, item 8)."""

from __future__ import annotations

import json

import pytest

from vb_plugins.cli import main


@pytest.fixture(params=["fiftyone", "comfyui"])
def host(request, tmp_path):
    """(command, options, destination) of each host app, in a temporary folder."""
    if request.param == "fiftyone":
        plugins = tmp_path / "plugins"
        return "fiftyone", ["--plugins-dir", str(plugins)], plugins / "vb-plugins"
    root = tmp_path / "ComfyUI"
    root.mkdir()
    (root / "main.py").write_text("# ComfyUI\n")
    return "comfyui", ["--comfyui-dir", str(root)], root / "custom_nodes" / "vb-plugins"


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(capsys, command):
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith(f"vb {command}: error: ")
    return err


def test_a_users_own_folder_of_that_name_is_refused_and_kept(host, capsys):
    command, options, destination = host
    destination.mkdir(parents=True)
    (destination / "notes.txt").write_text("mine")
    (destination / "sub").mkdir()
    (destination / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = snapshot(destination)
    assert main([command, "uninstall", *options]) == 1
    err = refused(capsys, command)
    assert f"{destination}: a folder without the .vb-plugins-install.json marker" in err
    assert f"`vb {command} install` did not make it; left in place" in err
    assert snapshot(destination) == before


def test_a_link_to_somewhere_else_is_refused_and_kept(host, tmp_path, capsys):
    command, options, destination = host
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    destination.parent.mkdir(parents=True)
    destination.symlink_to(elsewhere, target_is_directory=True)
    assert main([command, "uninstall", *options]) == 1
    assert f"a link to {elsewhere.resolve()}" in refused(capsys, command)
    assert destination.is_symlink() and (elsewhere / "keep.txt").read_text() == "keep"


def test_a_file_of_that_name_is_refused_and_kept(host, capsys):
    command, options, destination = host
    destination.parent.mkdir(parents=True)
    destination.write_text("a file")
    assert main([command, "uninstall", *options]) == 1
    assert "a file, not a folder" in refused(capsys, command)
    assert destination.read_text() == "a file"


def test_a_marked_copy_and_the_link_are_removed(host, capsys):
    command, options, destination = host
    assert main([command, "install", "--copy", *options]) == 0
    assert (destination / ".vb-plugins-install.json").is_file()
    assert main([command, "uninstall", *options]) == 0
    assert not destination.exists()
    assert main([command, "install", *options]) == 0
    assert destination.is_symlink()
    assert main([command, "uninstall", *options]) == 0
    assert not destination.exists() and not destination.is_symlink()
    assert main([command, "uninstall", *options]) == 0  # nothing there: nothing to do
    assert "not installed" in capsys.readouterr().err


def test_a_copy_whose_marker_names_the_other_adapter_is_refused(host, capsys):
    command, options, destination = host
    assert main([command, "install", "--copy", *options]) == 0
    capsys.readouterr()
    marker = destination / ".vb-plugins-install.json"
    claims = json.loads(marker.read_text())
    claims["adapter"] = "comfyui_nodes" if command == "fiftyone" else "fiftyone_plugin"
    marker.write_text(json.dumps(claims))
    before = snapshot(destination)
    assert main([command, "uninstall", *options]) == 1
    refused(capsys, command)
    assert snapshot(destination) == before
