"""The wheel carries what a fresh install needs: adapter folders, bundled examples and model files."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_ships_adapters_examples_and_model_recipe(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True, cwd=tmp_path)
    wheel, = tmp_path.glob("vb_plugins-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for adapter, marker in (("fiftyone_plugin", "fiftyone.yml"), ("comfyui_nodes", "__init__.py")):
        assert f"vb_plugins/_adapters/{adapter}/{marker}" in names
        shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith(f"vb_plugins/_adapters/{adapter}/")}
        in_checkout = {p.name for p in (REPO / adapter).glob("*.py")}
        assert in_checkout <= shipped
    examples = {p.name for p in (REPO / "vb_plugins" / "data" / "examples").iterdir()}
    assert examples and {f"vb_plugins/data/examples/{n}" for n in examples} <= names
    model = {p.name for p in (REPO / "vb_plugins" / "models" / "vb-small").iterdir()}
    assert {f"vb_plugins/models/vb-small/{n}" for n in model} <= names
    assert not any(n.startswith(("tests/", "fiftyone_plugin/", "comfyui_nodes/")) for n in names)
