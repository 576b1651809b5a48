"""`vb predict relative-depth|matting` with a real (tiny, offline) diffusers pipeline: the prompts, the files,
and relative depth scored by `vb eval depth --align`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vb_plugins.cli import main
from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_klein(tmp_path_factory):
    return save_tiny_pipeline("flux2-klein", tmp_path_factory.mktemp("tiny") / "klein")


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_writes_relative_depth_and_mattes_that_eval_scores(tmp_path, capsys, tiny_klein):
    photo = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "room.png")
    common = ["--model", tiny_klein, "--steps", "1", "--megapixels", "0.005"]
    code, _, err = run(capsys, "predict", "relative-depth", tmp_path / "room.png", "-o", tmp_path / "rel", *common)
    assert code == 0, err
    record = json.loads((tmp_path / "rel" / "room.json").read_text())
    assert record["task"] == "relative-depth"
    assert record["prompts"] == ["Generate relative inverse depth: near points bright, far points dark, "
                                 "matching input pixels."]
    values = np.load(tmp_path / "rel" / "room.relative-depth.npy")
    assert values.shape == (40, 48) and values.dtype == np.float32 and 0.0 <= values.min() <= values.max() <= 1.0
    confidence = np.load(tmp_path / "rel" / "room.confidence.npy")
    assert confidence.shape == (40, 48) and 0.0 <= confidence.min() <= confidence.max() <= 1.0

    (tmp_path / "gt").mkdir()
    np.save(tmp_path / "gt" / "room.npy", np.linspace(1.0, 5.0, 40 * 48).reshape(40, 48))
    code, out, err = run(capsys, "eval", "depth", "--pred", tmp_path / "rel", "--gt", tmp_path / "gt",
                         "--align", "scale-shift-disparity")
    assert code == 0, err
    assert "vb eval depth: 1 image" in out and "prediction disparity" in out

    code, _, err = run(capsys, "predict", "matting", tmp_path / "room.png", "-o", tmp_path / "matte", *common)
    assert code == 0, err
    alpha = np.load(tmp_path / "matte" / "room.matting.npy")
    assert alpha.shape == (40, 48) and 0.0 <= alpha.min() <= alpha.max() <= 1.0
    record = json.loads((tmp_path / "matte" / "room.json").read_text())
    assert record["prompts"] == ["Generate an alpha matte of the foreground: white foreground, black background."]
    assert (tmp_path / "matte" / "room.matting.png").is_file()
