"""The main job (`vb demo`) and its bundled examples: reproducible from the renderer, scored honestly."""

import json

import numpy as np

from vb_plugins.cli import main
from vb_plugins.demo import EXAMPLES_DIR, example_scenes, load_examples, run_demo


def test_bundled_examples_are_the_renderer_output_of_their_held_out_seeds():
    examples = {e.name: e for e in load_examples()}
    scenes = example_scenes()
    assert sorted(examples) == sorted(f"{s.kind}-{s.seed}" for s in scenes)
    for scene in scenes:
        example = examples[f"{scene.kind}-{scene.seed}"]
        assert scene.seed >= 1_000_000  # training draws seeds from 0 up to its scene count
        assert np.array_equal(example.image, scene.image)
        assert np.array_equal(example.depth, np.where(scene.valid, scene.depth, np.inf).astype(np.float32))
        assert np.allclose(example.normals[scene.valid], scene.normals[scene.valid])
        assert example.info["seed"] == scene.seed and np.allclose(example.info["intrinsics"], scene.intrinsics)


def test_examples_show_both_kinds_and_sky():
    examples = load_examples()
    assert {e.info["kind"] for e in examples} == {"room", "outdoor"}
    assert any(np.isinf(e.depth).any() for e in examples if e.info["kind"] == "outdoor")
    for e in examples:
        finite = e.depth[np.isfinite(e.depth)]
        assert finite.size and finite.min() > 0.1 and finite.max() < 200


def test_demo_scores_a_given_model_and_writes_its_outputs(tmp_path):
    import torch

    from vb_plugins.generation.bundled import save_vbnet
    from vb_plugins.generation.vbnet import VBNet, VBNetConfig

    torch.manual_seed(0)
    model_dir = save_vbnet(VBNet(VBNetConfig(channels=(8, 16), cond_dim=16, text_vocab=64, resolution=32,
                                             multiple=2)), tmp_path / "tiny")
    lines = []
    results = run_demo(tmp_path / "out", str(model_dir), log=lines.append)
    lossless = results["codec_round_trip"]["lossless"]
    assert lossless["depth_delta1"] == 1.0 and lossless["depth_abs_rel"] < 0.005
    assert lossless["normals_mean_angle"] < 0.5
    assert results["codec_round_trip"]["jpeg75"]["depth_delta1"] > 0.99
    for task in ("depth", "normals"):  # an untrained model predicts, and is scored as what it is
        assert results[task]["generator"] == "vbnet:tiny"
        assert results[task]["seconds_per_image"] > 0
    assert 0 <= results["depth"]["delta1"] < 0.9 and results["normals"]["mean_angle"] > 20
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert "demo.json" in names and len([n for n in names if n.endswith(".depth.npy")]) == len(load_examples())
    assert json.loads((tmp_path / "out" / "demo.json").read_text())["examples"] == results["examples"]
    assert any("codec round trip (lossless)" in line for line in lines)


def test_vb_demo_runs_from_the_command_line(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "bundled synthetic scenes" in out and "codec round trip (jpeg75)" in out
    assert EXAMPLES_DIR.is_dir()
