"""The UI-format example workflows, opened in a real ComfyUI editor, queue exactly their API twins.

Needs a ComfyUI (see conftest.py), node, Chromium and playwright-core (``.ci/setup_chromium.sh``,
``.ci/setup_playwright.sh``, which tests/conftest.py runs when they are missing); skipped with the
reason otherwise. The editor (ComfyUI's frontend
package, in a headless Chromium) loads each ``workflows/<name>.json`` and converts it with its own
``graphToPrompt``; the result must equal ``workflows/<name>.api.json`` node for node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "comfyui_nodes" / "workflows"
NODE_MODULES = ROOT / "scripts" / "node_modules"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser_tools():
    missing = [what for what, ok in (("node", shutil.which("node")), (CHROMIUM, Path(CHROMIUM).exists()),
                                     ("playwright-core", (NODE_MODULES / "playwright-core").is_dir())) if not ok]
    if missing:
        pytest.skip(f"UI workflow check not run: {', '.join(missing)} missing (.ci/setup_chromium.sh, "
                    ".ci/setup_playwright.sh)")


def test_ui_workflows_convert_to_their_api_twins_in_the_editor(browser_tools, start_comfyui):
    server = start_comfyui(custom_nodes=[ROOT / "comfyui_nodes"])
    files = sorted(p for p in WORKFLOWS.glob("*.json") if not p.name.endswith(".api.json"))
    assert len(files) >= 2
    result = subprocess.run(["node", str(Path(__file__).with_name("ui_workflow_to_prompt.js")), server.base_url,
                             *map(str, files)], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, NODE_PATH=str(NODE_MODULES), CHROMIUM=CHROMIUM))
    assert result.returncode == 0, result.stderr[-2000:]
    converted = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [Path(c["file"]).name for c in converted] == [f.name for f in files]
    for entry in converted:
        api = json.loads(Path(entry["file"]).with_suffix(".api.json").read_text())
        output = entry["output"]
        assert sorted(output) == sorted(api)
        for node_id, node in api.items():
            assert output[node_id]["class_type"] == node["class_type"]
            assert output[node_id]["inputs"] == node["inputs"], (entry["file"], node_id)
