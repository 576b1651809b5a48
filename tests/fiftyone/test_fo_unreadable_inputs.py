"""Unreadable inputs inside FiftyOne runs are skipped and listed, never a traceback that aborts the run
(issue 15): decompression bombs among the samples of ``predict``, missing ground-truth (and prediction)
files in ``evaluate``."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
from conftest import HEIGHT, LEGEND, WIDTH, scene

from vb_plugins.fiftyone_tools.painting import image_depth


def write_bomb_png(path, width: int, height: int) -> None:
    """A PNG whose header announces ``width`` x ``height`` gray pixels (what PIL checks on open)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * (width + 1) * 16)  # the first rows; zeros compress ~1000:1
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def test_decompression_bombs_among_the_samples_are_skipped_and_listed(fo, make_dataset, run_op, tmp_path,
                                                                       monkeypatch):
    from PIL import Image

    dataset = make_dataset(3)
    refused = tmp_path / "bomb.png"  # 400 M pixels: PIL refuses to open it
    write_bomb_png(refused, 20000, 20000)
    warned = tmp_path / "big.png"  # above the (lowered) limit but under twice it, where PIL itself only warns
    Image.fromarray(scene(0)).save(warned)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", HEIGHT * WIDTH - 1)
    dataset.add_samples([fo.Sample(filepath=str(refused), index=10), fo.Sample(filepath=str(warned), index=11)])
    bytes_before = {p: p.read_bytes() for p in (refused, warned)}
    small = dataset.match(fo.ViewField("index") < 3)

    result = run_op("predict", dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                                "output_dir": str(tmp_path / "o")})
    monkeypatch.undo()
    assert result["predicted"] == 0 and result["skipped_count"] == 5  # scenes are over the lowered limit too
    reasons = {s["filepath"]: s["reason"] for s in result["skipped"]}
    assert reasons[str(refused)] == (f"{refused}: 400,000,000 pixels exceeds the limit of {HEIGHT * WIDTH - 1:,} "
                                     "(a possible decompression bomb; the limit is PIL.Image.MAX_IMAGE_PIXELS)")
    assert "exceeds the limit" in reasons[str(warned)] and "\n" not in "".join(reasons.values())
    assert {p: p.read_bytes() for p in (refused, warned)} == bytes_before

    result = run_op("predict", dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                                "output_dir": str(tmp_path / "o")})
    assert result["predicted"] == 4 and result["skipped_count"] == 1  # the default limit: only the bomb
    assert result["skipped"][0]["filepath"] == str(refused)
    assert "1 skipped (unreadable: " in result["message"]
    assert small.count("depth") == 3 and dataset.count("depth") == 4
    assert dataset.info["vb_plugins"]["depth"]["complete"] is False  # a re-run retries the skipped sample


def depth_truth(fo, dataset, folder) -> dict:
    from PIL import Image

    truth = {}
    for sample in dataset:
        path = folder / f"gt{sample.index}.png"
        Image.fromarray(np.rint(image_depth(scene(sample.index)) * 1000).astype(np.uint16)).save(path)
        truth[sample.id] = fo.Heatmap(map_path=str(path), range=[0, 10000])
    dataset.set_values("gt_depth", truth, key_field="id")
    return truth


def test_evaluate_skips_missing_ground_truth_and_prediction_files_alike(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(4)
    depth_truth(fo, dataset, tmp_path)
    run_op("predict", dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                       "output_dir": str(tmp_path / "o")})
    first, second = dataset.sort_by("index").limit(2)
    os.remove(first.gt_depth.map_path)  # a ground-truth file gone
    os.remove(second.depth.values_path)  # a prediction file gone
    stored = {s.id: (s.gt_depth.map_path, s.depth.values_path) for s in dataset}

    result = run_op("evaluate", dataset.view(), {"pred_field": "depth", "gt_field": "gt_depth",
                                                 "gt_depth_scale": 1000})
    assert result["aggregate"]["images"] == 2 and result["aggregate"]["metrics"]["abs_rel"] < 0.02
    reasons = {s["key"]: s["reason"] for s in result["skipped"]}
    assert reasons == {first.id: f"heatmap {first.gt_depth.id}: map_path {first.gt_depth.map_path}: no such file",
                       second.id: f"{second.depth.values_path}: no such file"}
    dataset.reload()
    assert {s.id: (s.gt_depth.map_path, s.depth.values_path) for s in dataset} == stored


def test_evaluate_skips_missing_ground_truth_masks(fo, make_dataset, run_op, tmp_path):
    from PIL import Image

    dataset = make_dataset(3)
    run_op("predict", dataset.view(), {"task": "semantic", "output_field": "seg", "model": "paint:identity",
                                       "classes": LEGEND, "output_dir": str(tmp_path / "o")})
    truth = {}
    for sample in dataset:
        image = scene(sample.index)
        mask = np.full((HEIGHT, WIDTH), 4, np.uint8)  # the prediction's numbering: LEGEND's order from 1
        for value, colour in ((1, (255, 0, 0)), (2, (0, 0, 255)), (3, (0, 255, 0))):
            mask[np.all(image == colour, axis=-1)] = value
        path = tmp_path / f"mask{sample.index}.png"
        if sample.index != 1:
            Image.fromarray(mask).save(path)
        truth[sample.id] = fo.Segmentation(mask_path=str(path))
    dataset.set_values("gt_seg", truth, key_field="id")
    result = run_op("evaluate", dataset.view(), {"pred_field": "seg", "gt_field": "gt_seg"})
    assert result["aggregate"]["images"] == 2 and result["aggregate"]["metrics"]["miou"] > 0.95
    missing = dataset.match(fo.ViewField("index") == 1).first()
    assert result["skipped"] == [{"key": missing.id, "reason": f"segmentation {missing.gt_seg.id}: mask_path "
                                                                f"{tmp_path / 'mask1.png'}: no such file"}]
