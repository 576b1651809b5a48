"""The layers point one way: tasks, codecs and prompts never import the registry (it imports them); they
look registered names up through vb_plugins.names, which the current registry answers."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from vb_plugins import hookimpl, names, registry
from vb_plugins.codecs import DepthCodec, colormap_scheme
from vb_plugins.errors import UnknownNameError
from vb_plugins.tasks import spec_from_dict

CORE = Path(__file__).resolve().parents[2] / "vb_plugins"
BELOW_THE_REGISTRY = [*sorted((CORE / "codecs").glob("*.py")), *sorted((CORE / "tasks").glob("*.py")),
                      CORE / "prompts.py", CORE / "prompt_legend.py", CORE / "prompt_schemes.py", CORE / "kinds.py",
                      CORE / "ensemble.py", CORE / "names.py"]


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


@pytest.mark.parametrize("path", BELOW_THE_REGISTRY, ids=lambda p: p.relative_to(CORE).as_posix())
def test_tasks_codecs_and_prompts_never_import_the_registry(path):
    assert not {m for m in imported_modules(path) if m.startswith("vb_plugins.registry")}


def test_names_are_answered_by_the_current_registry():
    class Turbo:
        @hookimpl
        def vb_color_schemes(self):
            return [colormap_scheme("turbo")]

    previous = registry.get_registry()
    with pytest.raises(UnknownNameError, match="unknown colour scheme 'turbo'"):
        DepthCodec("turbo")
    registry.reset_registry(registry.Registry(entry_points=False, plugins=[Turbo()]))
    try:
        assert "turbo" in names.listing("colour scheme")
        depth = np.geomspace(0.5, 50, 64).reshape(8, 8)
        codec = DepthCodec("turbo")
        assert np.allclose(codec.decode(codec.encode(depth)).depth, depth, rtol=0.05)
    finally:
        registry.reset_registry(previous)


def test_a_stored_spec_is_rebuilt_through_the_task_given_or_the_one_it_names():
    depth = registry.get_task("depth")
    spec = depth.make_spec(scheme="plasma", lam=-2.5)
    assert spec_from_dict(spec.to_dict(), depth) == spec == spec_from_dict(spec.to_dict())
    with pytest.raises(ValueError, match="spec is for task 'depth', not 'normals'"):
        spec_from_dict(spec.to_dict(), registry.get_task("normals"))
