"""`vb predict` with the bundled model: outputs per image, and one task per output directory."""

import json

import numpy as np
from PIL import Image

from vb_plugins.cli import main


def test_vb_predict_refuses_to_mix_tasks_in_one_directory(tmp_path, capsys):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main(["predict", "depth", str(tmp_path / "a.png"), "-o", str(out), "--quiet"]) == 0
    record = json.loads((out / "a.json").read_text())
    assert record["settings"]["generator"] == "vbnet:vb-small"  # the bundled model is the default
    assert np.load(out / "a.depth.npy").shape == (24, 32)
    assert main(["predict", "normals", str(tmp_path / "a.png"), "-o", str(out), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "already holds 'depth' predictions" in err and len(err.strip().splitlines()) == 1
    assert json.loads((out / "a.json").read_text()) == record and not (out / "a.normals.npy").exists()
    assert main(["predict", "normals", str(tmp_path / "a.png"), "-o", str(tmp_path / "normals"), "--quiet"]) == 0
    assert np.load(tmp_path / "normals" / "a.normals.npy").shape == (24, 32, 3)
