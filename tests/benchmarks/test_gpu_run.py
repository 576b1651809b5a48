"""The prepared GPU run (benchmarks/gpu, issue 19) at tiny size on the CPU: every part runs end to end
through the same entry point the GPU machine runs, and its outputs fit what the device tool brings back."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vb_plugins.cli import main as vb

REPO = Path(__file__).resolve().parents[2]
GPU = REPO / "benchmarks" / "gpu"
for entry in (GPU, GPU.parent):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

MAX_FILES, MAX_BYTES = 8, 16 * 2**20
NAME = re.compile(r"^[A-Za-z0-9._-]+$")
HELD_OUT_FIGURES = ("depth_delta1", "depth_abs_rel", "depth_delta1_median_scaled", "normals_mean_deg",
                    "normals_median_deg")


def run_script(*args, out: Path, timeout=240, script="run.sh"):
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable}
    command = ["bash", str(GPU / script), *args] if script == "run.sh" else [sys.executable, str(GPU / script), *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "out"
    result = run_script("--tiny", out=out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


def test_tiny_run_writes_what_the_device_tool_brings_back(tiny_run):
    out, _ = tiny_run
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.relative_to(out).as_posix() for p in files} == {
        "results.json", "run.log", "vb-small-v2/vb_model.json", "vb-small-v2/model.safetensors",
        "learned-decoder/learned_decoder.safetensors", "learned-decoder/learned_decoder.json"}
    assert len(files) <= MAX_FILES
    for path in files:
        relative = path.relative_to(out)
        assert path.stat().st_size <= MAX_BYTES, relative
        assert len(relative.parts) <= 3 and all(NAME.match(part) for part in relative.parts), relative
    assert "part engine: done" in (out / "run.log").read_text()


def test_tiny_run_scores_the_new_model_against_the_old_on_every_figure(tiny_run):
    _, results = tiny_run
    part = results["parts"]["vbsmall"]
    assert part["status"] == "done" and part["training"]["steps"] > 0
    assert part["training"]["data"]["examples_made"] >= part["training"]["batch_size"] * 4
    for model in ("new", "old"):
        scores = part[model]["model_scores"]
        for figure in HELD_OUT_FIGURES:
            assert np.isfinite(scores[figure]), (model, figure)
        assert part[model]["constant_baseline"]["depth_delta1"] > 0
    bundled = json.loads((REPO / "vb_plugins" / "models" / "vb-small" / "vb_model.json").read_text())["config"]
    assert part["old"]["resolution"] == bundled["resolution"] and part["new"]["resolution"] == 32
    assert set(part["new"]["by_steps"]) == {"1", "2"} and part["new"]["default_steps"] in (1, 2)
    figures = part["comparison"]["figures"]
    assert set(HELD_OUT_FIGURES) <= set(figures)
    assert part["comparison"]["beats_old_on_every_figure"] == all(f["better"] for f in figures.values())
    assert part["fits_package"] and part["weights_bytes"] <= MAX_BYTES


def test_exported_model_predicts_through_the_cli(tiny_run, tmp_path):
    out, _ = tiny_run
    model = out / "vb-small-v2"
    meta = json.loads((model / "vb_model.json").read_text())
    assert meta["config"]["channels"] == [8, 16, 16, 16] and meta["config"]["resolution"] == 32
    assert meta["provenance"]["steps"] > 0 and "held_out" in meta["provenance"]
    image = tmp_path / "room.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(image)
    assert vb(["predict", "depth", str(image), "-o", str(tmp_path / "pred"), "--model", str(model)]) == 0
    depth = np.load(next((tmp_path / "pred").rglob("*.npy")))
    assert depth.shape == (40, 48)


def test_tiny_run_scores_the_learned_decoder_against_naive_and_robust(tiny_run):
    import learned_decoder

    out, results = tiny_run
    part = results["parts"]["decoder"]
    assert part["status"] == "done" and part["training"]["steps"] > 0
    table = part["benchmark"]["absrel_delta1"]
    assert set(table) == {"lossless", "jpeg95", "jpeg75", "jpeg50"}
    for row in table.values():
        for kind in ("scenes", "layouts"):
            for label in ("naive", "robust", "learned"):
                assert np.isfinite(row[f"{kind}.{label}.absrel"]) and 0 <= row[f"{kind}.{label}.delta1"] <= 1
    # at CPU scale JPEG damage is real: robust beats naive, as in benchmarks/robust_decode.py
    assert table["jpeg50"]["layouts.robust.absrel"] < table["jpeg50"]["layouts.naive.absrel"]
    assert part["benchmark"]["ship"] == (all(part["benchmark"]["beats_robust_on_lossy"].values())
                                         and all(part["benchmark"]["not_worse_on_lossless"].values()))
    assert part["weights_bytes"] <= 4 * 2**20
    net, config = learned_decoder.load(out / "learned-decoder")
    assert config["inputs"] == ["robust_s", "naive_s", "Y", "Cb", "Cr", "residual"]
    assert sum(p.numel() for p in net.parameters()) == part["training"]["parameters"]


def test_tiny_run_times_the_engine_against_the_loop_at_each_batch_size(tiny_run):
    _, results = tiny_run
    part = results["parts"]["engine"]
    assert part["status"] == "done" and part["transformer"] == "tiny" and not part["skipped"]
    assert part["size"] == [64, 64] and part["steps"] == 2
    assert part["naive"]["images_per_s"] > 0
    assert set(part["engine"]) == {"1", "2"}
    for row in part["engine"].values():
        assert row["images_per_s"] > 0 and row["speedup_vs_loop"] > 0 and 0 <= row["identical_share"] <= 1
    assert part["parameters"]["transformer"] > 0


def test_published_klein_4b_configuration_has_about_4b_parameters():
    import engine_scale
    import torch
    from diffusers import Flux2Transformer2DModel

    with torch.device("meta"):
        transformer = Flux2Transformer2DModel(**engine_scale.KLEIN_4B)
    assert 3.5e9 < sum(p.numel() for p in transformer.parameters()) < 4.5e9


def test_run_that_cannot_fit_skips_every_part_with_a_note(tmp_path):
    out = tmp_path / "out"
    result = run_script("--tiny", "--deadline", "5", "--out", str(out), out=out, script="run.py")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    for name in ("vbsmall", "decoder", "engine"):
        assert results["parts"][name]["status"] == "skipped" and results["parts"][name]["note"]
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]


def test_run_refuses_to_overwrite_earlier_results(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("{}")
    result = run_script("--tiny", "--out", str(out), out=out, script="run.py")
    assert result.returncode == 2 and "--overwrite" in result.stderr
    assert (out / "results.json").read_text() == "{}"


def test_log_depth_is_the_codecs_path_depth():
    import torch
    from learned_decoder import log_depth

    from vb_plugins.codecs import DepthCodec
    from vb_plugins.codecs._robust import _Path

    path = _Path(DepthCodec())
    s = np.linspace(0.5, path.steps - 1.0, 997).astype(np.float32)
    expected = np.log(path.depth(s).astype(np.float64))
    got = log_depth(torch.from_numpy(s).double(), path.steps, path.scale, path.power).numpy()
    assert np.allclose(got, expected, rtol=0, atol=1e-5)


def test_comparison_needs_every_figure_better():
    from vbsmall_v2 import FIGURES, comparison

    old = {name: 1.0 for name in FIGURES}
    better = {name: (1.1 if larger else 0.9) for name, larger in FIGURES.items()}
    assert comparison(better, old)["beats_old_on_every_figure"]
    one_worse = dict(better, normals_median_deg=1.2)
    result = comparison(one_worse, old)
    assert not result["beats_old_on_every_figure"] and not result["figures"]["normals_median_deg"]["better"]


def test_feed_falls_back_to_cpu_rendering_when_the_device_fails():
    from concurrent.futures import ThreadPoolExecutor

    import learned_decoder
    import torch
    from feed import DeviceFeed

    def render(seeds, device):
        if device.type != "cpu":
            raise RuntimeError(f"no renderer on {device}")
        return learned_decoder.render_depths(seeds, device, 16)

    with ThreadPoolExecutor(1) as pool:
        pool.workers = 1
        # "meta" stands in for a GPU: buffers live there, rendering on it fails
        feed = DeviceFeed(render, learned_decoder.examples_job, pool, torch.device("meta"), 8,
                          {"inputs": torch.float32, "depth": torch.float32}, first_seed=1000, render_batch=2,
                          job_args=(0,))
        with feed:
            feed.wait_for(4, timeout=60)
    stats = feed.stats(1.0)
    assert stats["render_device"] == "cpu" and "no renderer on meta" in stats["render_fallback"]
    assert feed.buffers["inputs"].shape == (8, 6, 16, 16) and feed.buffers["depth"].shape == (8, 16, 16)
