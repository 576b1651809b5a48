"""The review queue in the FiftyOne App (issue 22): a headless Chromium screenshot of the saved view
``vb-review: seg`` shows the queued samples in score order.

Runs ``scripts/fiftyone_review_screenshot.py`` (its own private database and App server). Each drawn
scene has a white patch of a known side; the model leaves it unlabeled, so the least confident samples
are those with the largest patches. The test reads the order back from the screenshot itself: it
measures the white patch in every grid tile (tiles located in the page, taken row by row) and checks
the sides, in the order the App rendered them, against the queue's. The PNGs stay in
``artifacts/fiftyone-review/`` for review. Needs node and Chromium, like the other screenshot test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import PROJECT_ROOT
from test_fo_app_screenshot import playwright_core  # noqa: F401  (fixture: node, Chromium, playwright-core)

ARTIFACTS = PROJECT_ROOT / "artifacts" / "fiftyone-review"
WIDTH, HEIGHT = 320, 240


def patch_side(screen: np.ndarray, tile: dict) -> float:
    """Side, in image pixels, of the white patch in the top-left corner of a grid tile (the image fills
    the tile; the score bubble sits at the bottom left, clear of the corner)."""
    x, y, w, h = (int(round(tile[k])) for k in ("x", "y", "width", "height"))
    corner = screen[y:y + int(h * 0.4), x:x + int(w * 0.4)]
    white = np.all(corner >= 245, axis=-1).sum()
    return float(np.sqrt(white)) * WIDTH / tile["width"]


@pytest.mark.slow
def test_app_shows_the_review_view_sorted_by_confidence(fo, playwright_core):  # noqa: F811
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in list(ARTIFACTS.glob("*.png")) + list(ARTIFACTS.glob("*.html")):
        old.unlink()
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "fiftyone_review_screenshot.py"), "--out", str(ARTIFACTS),
         "--settle-ms", "4000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=480,
        env={**os.environ, "DUMP_DOM": "1"})
    (ARTIFACTS / "run.log").write_text(completed.stdout)
    assert completed.returncode == 0, completed.stdout[-3000:]
    info = json.loads((ARTIFACTS / "shots.json").read_text())
    queue = info["queue"]

    # the queue: the six largest patches, least confident first, scores from the patch area (the reliability
    # of issue 23: 0 on the patch, a little under 1 along the legend colours' borders)
    expected_sides = sorted(info["patches"], reverse=True)[:6]
    assert queue["patches"] == expected_sides
    for score, side in zip(queue["scores"], expected_sides, strict=True):
        assert 1 - side ** 2 / (WIDTH * HEIGHT) - 0.005 <= score <= 1 - side ** 2 / (WIDTH * HEIGHT)
    assert queue["view_name"] == "vb-review: seg"

    # the App loaded the saved view: its name and the queue's size are on the page
    page = (ARTIFACTS / "review_grid.html").read_text()
    assert "vb-review: seg" in page and 'data-cy="entry-count-all">6<' in page

    # the rendered order: tiles row by row, each patch measured in the screenshot
    shot = info["shots"]["review_grid"]
    tiles = sorted(shot["tiles"], key=lambda t: (round(t["y"]), t["x"]))
    assert len(tiles) == 6
    screen = np.asarray(Image.open(shot["out"]).convert("RGB"))
    seen = [patch_side(screen, tile) for tile in tiles]
    assert all(abs(s - e) <= 3 for s, e in zip(seen, expected_sides)), (seen, expected_sides)
    assert seen == sorted(seen, reverse=True)
