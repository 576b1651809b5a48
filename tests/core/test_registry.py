import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import vb_plugins
from vb_plugins import hookimpl
from vb_plugins.errors import RegistryError
from vb_plugins.registry import Registry
from vb_plugins.tasks import DepthTask

REPO = Path(__file__).resolve().parents[2]


def test_builtins_are_registered_through_the_hooks():
    registry = Registry(entry_points=False)
    assert registry.names("task") == ["depth", "normals", "semantic", "instance", "referring"]
    assert {"vision-banana", "plasma", "inferno", "viridis", "gray"} <= set(registry.names("colour scheme"))
    assert {"vision-banana", "zero-shot"} <= set(registry.names("prompt dialect"))
    _, origin = registry.table("task")["depth"]
    assert "built-in" in origin


def test_duplicate_names_name_both_plugins():
    class Clash:
        __name__ = "clashing_plugin"

        @hookimpl
        def vb_tasks(self):
            return [DepthTask()]

    registry = Registry(entry_points=False, plugins=[Clash()])
    with pytest.raises(RegistryError) as info:
        registry.table("task")
    message = str(info.value)
    assert "task 'depth'" in message and "vb_plugins (built-in)" in message and "clashing_plugin" in message


def test_unknown_names_list_what_is_registered():
    with pytest.raises(RegistryError, match="unknown task 'dept'; registered: depth, normals"):
        vb_plugins.get_task("dept")


def test_misspelled_hook_is_rejected():
    class Typo:
        __name__ = "typo_plugin"

        @hookimpl
        def vb_task(self):  # not a hook
            return []

    with pytest.raises(RegistryError, match="typo_plugin"):
        Registry(entry_points=False, plugins=[Typo()])


@pytest.fixture(scope="module")
def example_plugin_site(tmp_path_factory):
    """The example plugin installed (as a wheel, like a user would) into a separate site directory."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(REPO / "examples" / "vb-plugin-example")],
        check=True, capture_output=True, text=True,
    )
    return target


def run_with_plugin(site, *args, code=None):
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "vb_plugins.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, cwd=site)


def test_installed_plugin_appears_in_cli_and_python_api(example_plugin_site, tmp_path):
    tasks = run_with_plugin(example_plugin_site, "tasks")
    assert tasks.returncode == 0, tasks.stderr
    names = [line.split("\t")[0] for line in tasks.stdout.splitlines()]
    assert names[:5] == ["depth", "normals", "semantic", "instance", "referring"] and "edges" in names
    schemes = run_with_plugin(example_plugin_site, "schemes")
    assert "turbo" in [line.split("\t")[0] for line in schemes.stdout.splitlines()]

    code = textwrap.dedent("""
        import numpy as np, vb_plugins
        task = vb_plugins.get_task("edges")
        mask = np.zeros((8, 8), bool); mask[2:6, 3] = True
        assert (task.codec.decode(task.codec.encode(mask)).mask == mask).all()
        print(task.prompt(task.make_spec()))
        from vb_plugins.codecs import DepthCodec
        depth = np.geomspace(0.5, 50, 64).reshape(8, 8)
        codec = DepthCodec("turbo")
        assert np.allclose(codec.decode(codec.encode(depth)).depth, depth, rtol=0.05)
        print("ok")
    """)
    result = run_with_plugin(example_plugin_site, code=code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Draw the object boundaries of the input image as thin white lines on a black background.", "ok"]

    depth = tmp_path / "depth.npy"
    np.save(depth, np.geomspace(0.5, 50, 64).reshape(8, 8))
    encoded = run_with_plugin(example_plugin_site, "encode", "depth", str(depth), str(tmp_path / "d.png"),
                              "--scheme", "turbo")
    assert encoded.returncode == 0, encoded.stderr and (tmp_path / "d.png").is_file()


def test_a_plugin_command_appears_in_vb_help_and_runs(example_plugin_site, tmp_path):
    from PIL import Image

    helped = run_with_plugin(example_plugin_site, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "edges-target" in helped.stdout and "example plugin" in " ".join(helped.stdout.split())

    photo = np.zeros((32, 48, 3), np.uint8)
    photo[8:24, 12:36] = 255  # a white rectangle: its outline is the only edge
    Image.fromarray(photo).save(tmp_path / "photo.png")
    target = tmp_path / "photo.edges.png"
    result = run_with_plugin(example_plugin_site, "edges-target", str(tmp_path / "photo.png"), str(target))
    assert result.returncode == 0, result.stderr
    painted = np.asarray(Image.open(target))
    edges = painted[..., 0] > 0
    assert set(np.unique(painted)) == {0, 255} and (painted == painted[..., :1]).all()  # white on black
    assert edges[8:24, 12:36].any() and not edges[:6].any() and not edges[14:18, 18:30].any()

    again = run_with_plugin(example_plugin_site, "edges-target", str(tmp_path / "photo.png"), str(target))
    assert again.returncode == 1 and again.stderr.startswith("vb edges-target: error: ")
    assert "already exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1
