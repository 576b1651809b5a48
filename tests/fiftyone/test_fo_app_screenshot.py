"""The FiftyOne App renders the predict operator's labels: a headless Chromium screenshot of a sample.

Runs ``scripts/fiftyone_screenshot.py`` (its own private database and App server on a free loopback
port, a weightless ``demo:`` model that paints the drawn scene's exact depth and class colours) and
checks the pixels the App drew against what it must draw: ``0.5 * overlay + 0.5 * image`` with the
overlay being viridis of depth / 20 m for the heatmap (range stored in millimetres) and the prompted
class colour for the segmentation. The PNGs stay in ``artifacts/fiftyone/`` for review.
Needs node and /usr/bin/chromium (``.ci/setup_chromium.sh``); playwright-core is installed with npm
into ``scripts/node_modules`` if missing (``.ci/setup_playwright.sh`` does it ahead of the tests).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "scripts"
ARTIFACTS = PROJECT_ROOT / "artifacts" / "fiftyone"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OPACITY = 0.5  # the script's colour scheme opacity
TOLERANCE = 20  # per channel, 0..255: anti-aliasing and colour-map sampling in the App

# Points in image pixels (320 x 240 scene 0), each well inside one region.
POINTS = {"sky": (160, 40), "ground left": (20, 120), "ground right": (300, 120), "far road": (144, 100),
          "mid road": (144, 150), "near road": (144, 230), "ball": (204, 193)}


@pytest.fixture(scope="session")
def playwright_core():
    """playwright-core in scripts/node_modules (npm registry), node and Chromium on this machine."""
    if shutil.which("node") is None or not Path(CHROMIUM).exists():
        pytest.skip(f"needs node and {CHROMIUM} (.ci/setup_chromium.sh)")
    if not (SCRIPTS / "node_modules" / "playwright-core").is_dir():
        if shutil.which("npm") is None:
            pytest.skip("needs npm to install playwright-core (.ci/setup_playwright.sh)")
        subprocess.run(["npm", "install", "--prefix", str(SCRIPTS), "--no-audit", "--no-fund", "--silent"],
                       check=True, timeout=300)
    return SCRIPTS / "node_modules" / "playwright-core"


def _script():
    spec = importlib.util.spec_from_file_location("fiftyone_screenshot", SCRIPTS / "fiftyone_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _viridis(values: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps["viridis"](np.clip(values, 0, 1))[..., :3] * 255


def _screen_colours(shot: dict, size) -> dict[str, np.ndarray]:
    """Mean colour of a 5 x 5 page-pixel patch at each of POINTS, located in the media canvas box (the
    image is fitted to the box keeping its aspect ratio, centred)."""
    from PIL import Image

    screen = np.asarray(Image.open(shot["out"]).convert("RGB"), dtype=np.float64)
    box, (width, height) = shot["box"], size
    scale = min(box["width"] / width, box["height"] / height)
    left = box["x"] + (box["width"] - width * scale) / 2
    top = box["y"] + (box["height"] - height * scale) / 2
    colours = {}
    for name, (x, y) in POINTS.items():
        px, py = int(left + (x + 0.5) * scale), int(top + (y + 0.5) * scale)
        colours[name] = screen[py - 2:py + 3, px - 2:px + 3].reshape(-1, 3).mean(axis=0)
    return colours


@pytest.mark.slow
def test_app_shows_depth_heatmap_and_segmentation(fo, playwright_core):
    script = _script()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    completed = subprocess.run(
        [sys.executable, str(SCRIPTS / "fiftyone_screenshot.py"), "--out", str(ARTIFACTS),
         "--shots", "modal,modal_depth,modal_segmentation", "--settle-ms", "4000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=480)
    (ARTIFACTS / "run.log").write_text(completed.stdout)
    assert completed.returncode == 0, completed.stdout[-3000:]
    info = json.loads((ARTIFACTS / "shots.json").read_text())
    assert info["depth"]["range_mm"] == [0.0, 20000.0]
    assert info["segmentation"]["mask_targets"] == {"1": "sky", "2": "ground", "3": "road", "4": "ball"}
    assert sorted(info["shots"]) == ["modal", "modal_depth", "modal_segmentation"]

    image = script.draw_scene(0).astype(np.float64)
    depth = script.scene_depth(script.draw_scene(0))
    classes = script.scene_classes(script.draw_scene(0))
    from vb_plugins.codecs.colors import parse_colour

    legend = np.array([parse_colour(script.LEGEND[name]) for name in script.NATURAL], np.float64)
    heat = _viridis(depth / 20.0)  # the stored range: 0..20000 mm
    expected_depth = OPACITY * heat + (1 - OPACITY) * image
    expected_segmentation = OPACITY * legend[classes] + (1 - OPACITY) * image
    size = info["image_size"]

    shots = {name: _screen_colours(shot, size) for name, shot in info["shots"].items()}
    for name, (x, y) in POINTS.items():
        for shot, expected in (("modal_depth", expected_depth), ("modal_segmentation", expected_segmentation)):
            seen = shots[shot][name]
            assert np.abs(seen - expected[y, x]).max() <= TOLERANCE, (shot, name, seen.round(), expected[y, x].round())
        # Both overlays together: the App draws one over the other, each at the scheme's opacity.
        heat_over = OPACITY * heat[y, x] + (1 - OPACITY) * expected_segmentation[y, x]
        segmentation_over = OPACITY * legend[classes[y, x]] + (1 - OPACITY) * expected_depth[y, x]
        seen = shots["modal"][name]
        assert min(np.abs(seen - heat_over).max(), np.abs(seen - segmentation_over).max()) <= TOLERANCE, \
            ("modal", name, seen.round(), heat_over.round(), segmentation_over.round())
    # The heatmap is a gradient (far road yellow, near road purple), not a saturated single colour.
    far, near = shots["modal_depth"]["far road"], shots["modal_depth"]["near road"]
    assert far[1] - far[2] > 60 and near[2] - near[1] > 20
