"""A Comfy-registry / ComfyUI-Manager install clones the whole repository into custom_nodes/: the
repository root then loads as the pack (its __init__.py re-exports comfyui_nodes)."""

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(start_comfyui):
    return start_comfyui(custom_nodes=[PROJECT_ROOT])


def test_repository_root_registers_the_nodes(server):
    assert server.custom_node_import_failures() == []
    info = server.object_info()
    for node in ("VBPrompt", "VBDecodeDepth", "VBGenerate"):
        assert info[node]["python_module"] == f"custom_nodes.{PROJECT_ROOT.name}"
        assert info[node]["category"] == "vb-plugins"
