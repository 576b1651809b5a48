"""The hooks beyond tasks: `vb` commands, training data sources, value kinds, both spellings of colour
schemes; built-ins registered from the modules DEFAULT_PLUGINS lists, each when its table is needed."""

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vb_plugins
from vb_plugins import hookimpl, registry
from vb_plugins.builtin import DEFAULT_PLUGINS, builtin_modules
from vb_plugins.cli import Command, build_parser, main
from vb_plugins.codecs import colormap_scheme
from vb_plugins.errors import InputError, RegistryError
from vb_plugins.registry import KINDS, Registry
from vb_plugins.training.config import load_config
from vb_plugins.training.data import GroundTruth
from vb_plugins.training.sources import DataSourceType, check_source, source_from_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def process_registry():
    """Installs a registry as the process-wide one for a test."""
    def install(*plugins):
        registry.reset_registry(Registry(entry_points=False, plugins=plugins))
        return registry.get_registry()

    yield install
    registry.reset_registry(None)


def test_every_builtin_module_registers_what_default_plugins_lists_it_for():
    built = Registry(entry_points=False)
    for kind in KINDS:
        built.table(kind)
    assert {name for name, _ in built.manager.list_name_plugin()} == set(builtin_modules())
    for hook, modules in DEFAULT_PLUGINS.items():
        implementers = [impl.plugin_name for impl in getattr(built.manager.hook, hook).get_hookimpls()]
        assert implementers == list(modules), hook
    assert built.names("command")[:2] == ["tasks", "predict"]
    assert built.names("generator backend") == ["vbnet", "diffusers", "gemini"]


def test_a_table_imports_only_the_modules_that_fill_it():
    code = """if True:
        import sys
        from vb_plugins.registry import Registry
        assert Registry(entry_points=False).names("task")[:2] == ["depth", "normals"]
        loaded = [m for m in ("vb_plugins.generation.gemini", "vb_plugins.training.sources", "vb_plugins.cli",
                              "fiftyone", "torch") if m in sys.modules]
        print(loaded)
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_colour_schemes_from_either_spelling_fill_one_table():
    class American:
        __name__ = "american_plugin"

        @hookimpl
        def vb_color_schemes(self):
            return [colormap_scheme("turbo")]

    class British:
        __name__ = "british_plugin"

        @hookimpl
        def vb_colour_schemes(self):
            return [colormap_scheme("cividis")]

    built = Registry(entry_points=False, plugins=[American(), British()])
    names = built.names("colour scheme")
    assert names[0] == "vision-banana" and names[-2:] == ["turbo", "cividis"]
    assert built.table("colour scheme")["turbo"][1] == "'american_plugin'"

    class Clash:
        __name__ = "clashing_spelling"

        @hookimpl
        def vb_color_schemes(self):
            return [colormap_scheme("plasma")]

    with pytest.raises(RegistryError, match="colour scheme 'plasma' is registered by both vb_plugins"):
        Registry(entry_points=False, plugins=[Clash()]).table("colour scheme")


def test_the_short_and_american_scheme_accessors_are_the_colour_ones():
    assert registry.get_scheme is registry.get_colour_scheme is registry.get_color_scheme
    assert registry.list_schemes is registry.list_colour_schemes
    assert vb_plugins.get_colour_scheme("plasma") is vb_plugins.get_scheme("plasma")
    assert vb_plugins.list_colour_schemes() == vb_plugins.list_schemes()


def test_accessors_name_what_they_look_up():
    assert registry.get_data_source.__name__ == "get_data_source"
    assert "data source" in registry.get_data_source.__doc__
    with pytest.raises(RegistryError, match="unknown command 'frobnicate'; registered: tasks, predict, train"):
        registry.get_command("frobnicate")


def test_the_training_data_sources_are_registered_by_name():
    assert registry.list_data_sources() == ["synthetic", "folder", "fiftyone"]
    fiftyone_source = registry.get_data_source("fiftyone")
    assert fiftyone_source.required == ("dataset",) and "view_tag" in fiftyone_source.settings
    with pytest.raises(InputError, match="data source type 'tape': expected synthetic, folder or fiftyone"):
        check_source("data[0]", {"type": "tape"})


def test_the_data_sources_load_without_fiftyone_until_it_is_used():
    code = """if True:
        import sys
        from vb_plugins.registry import list_data_sources
        assert "fiftyone" in list_data_sources()
        print("fiftyone" in sys.modules)
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_training_code_does_not_import_the_fiftyone_adapter():
    for path in (REPO / "vb_plugins" / "training").glob("**/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n.startswith("vb_plugins.fiftyone_tools") for n in names), path


class ConstantSource:
    """Every example is the same flat, 2 m deep gray picture."""

    def __init__(self, size):
        self.size = size

    def check(self, tasks):
        if set(tasks) - {"depth"}:
            raise InputError("constant: depth only")

    def load(self, index):
        return GroundTruth(np.full((self.size, self.size, 3), 128, np.uint8), depth=np.full((self.size,) * 2, 2.0),
                           key=f"constant-{index}")


class ConstantSourcePlugin:
    __name__ = "constant_source_plugin"

    @hookimpl
    def vb_data_sources(self):
        return [DataSourceType("constant", lambda config: ConstantSource(config["size"]),
                               {"type": str, "size": int}, ("size",))]


def test_a_plugin_data_source_serves_a_train_config(process_registry, tmp_path):
    process_registry(ConstantSourcePlugin())
    config = load_config(None, {"data": '[{"type": "constant", "size": 8}]', "tasks": '["depth"]',
                                "output_dir": str(tmp_path)})
    assert config.data == [{"type": "constant", "size": 8}]
    source = source_from_config(config.data[0])
    assert isinstance(source, ConstantSource) and source.load(3).key == "constant-3"
    with pytest.raises(InputError, match=r"data\[0\]: missing setting\(s\) size"):
        check_source("data[0]", {"type": "constant"})
    with pytest.raises(InputError, match="expected synthetic, folder, fiftyone or constant"):
        check_source("data[0]", {"type": "tape"})


def test_value_kinds_come_from_the_hook():
    if importlib.util.find_spec("vb_plugins.kinds") is not None:
        from vb_plugins.kinds import builtin_value_kinds

        builtin = [kind.name for kind in builtin_value_kinds()]
    else:
        builtin = []  # the value-kind table arrives with vb_plugins.kinds
    assert registry.list_value_kinds() == builtin

    class Kind:
        name = "edges"

    class KindPlugin:
        __name__ = "kind_plugin"

        @hookimpl
        def vb_value_kinds(self):
            return [Kind()]

    built = Registry(entry_points=False, plugins=[KindPlugin()])
    assert built.names("value kind") == [*builtin, "edges"] and isinstance(built.get("value kind", "edges"), Kind)


def _greet(subparsers):
    parser = subparsers.add_parser("greet", help="say hello (test plugin)")
    parser.add_argument("who")
    parser.set_defaults(handler=lambda args: print(f"hello {args.who}") or 0)


class GreetPlugin:
    __name__ = "greet_plugin"

    @hookimpl
    def vb_commands(self):
        return [Command("greet", _greet)]


def test_a_plugin_command_is_parsed_and_run(process_registry, capsys):
    process_registry(GreetPlugin())
    assert main(["greet", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"
    assert "greet" in build_parser().format_help()


def _broken(subparsers):
    subparsers.add_parser("half-built", help="never finished")
    raise ValueError("no arguments today")


def _takes_decode(subparsers):
    subparsers.add_parser("decode", help="a second decode")


class BrokenCommands:
    __name__ = "broken_commands"

    @hookimpl
    def vb_commands(self):
        return [Command("half-built", _broken), Command("decode-again", _takes_decode)]


class ClashingCommands:
    __name__ = "clashing_commands"

    @hookimpl
    def vb_commands(self):
        return [Command("greet-too", _greet), Command("train", _greet)]  # all or nothing: both left out


class RaisingCommands:
    __name__ = "raising_commands"

    @hookimpl
    def vb_commands(self):
        raise RuntimeError("cannot list commands")


def test_broken_plugin_commands_are_left_out_and_named(process_registry, capsys):
    built = process_registry(GreetPlugin(), BrokenCommands(), RaisingCommands(), ClashingCommands())
    help_text = build_parser().format_help()
    assert "greet" in help_text and "greet-too" not in help_text
    assert "half-built" not in help_text and "a second decode" not in help_text
    errors = "\n".join(built.load_errors)
    assert "raising_commands" in errors and "cannot list commands" in errors
    assert "command 'train' is registered by both vb_plugins (built-in) and 'clashing_commands'" in errors
    assert main(["tasks"]) == 0  # the core's own commands still run, and say what was left out
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("depth")
    assert "'broken_commands': command 'half-built' left out: ValueError: no arguments today" in err
    assert "'broken_commands': command 'decode-again' left out" in err and "conflicting subparser: decode" in err
    with pytest.raises(SystemExit) as exited:
        main(["decode", "--help"])
    assert exited.value.code == 0 and "--preview" in capsys.readouterr().out  # the built-in decode stays


def test_a_clash_between_builtins_fails_loudly():
    class NotListed:
        __name__ = "vb_plugins.tasks.geometry"

    with pytest.raises(RegistryError, match="plugin name 'vb_plugins.tasks.geometry' is used by both vb_plugins"):
        Registry(entry_points=False, plugins=[NotListed()])


def test_an_installed_plugin_with_a_misspelled_hook_is_named_and_left_out(tmp_path):
    (tmp_path / "typo_plugin.py").write_text(
        "from vb_plugins import hookimpl\n\n\n@hookimpl\ndef vb_command():\n    return []\n")
    dist = tmp_path / "typo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: typo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[vb_plugins]\ntypo = typo_plugin\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    for args in (["--help"], ["tasks"]):
        result = subprocess.run([sys.executable, "-m", "vb_plugins.cli", *args], env=env, capture_output=True,
                                text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("depth")
    assert "warning: plugin 'typo' from typo-plugin 0.1:" in result.stderr and "vb_command" in result.stderr
