"""A broken diffusers pipeline folder, or a dtype the backend cannot compute in, is a one-line error from
`vb predict` with a non-zero exit, before anything is written (tiny real pipeline, saved and loaded by path)."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from vb_plugins.cli import main
from vb_plugins.generation.diffusers_backend import DiffusersBackend
from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return save_tiny_pipeline("instruct-pix2pix", tmp_path_factory.mktemp("tiny") / "pix2pix")


@pytest.fixture
def workspace(pipeline, tmp_path):
    shutil.copytree(pipeline, tmp_path / "model")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    return tmp_path


def snapshot(root):
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def predict_refused(workspace, capsys, *options):
    before = snapshot(workspace)
    code = main(["predict", "depth", str(workspace / "a.png"), "-o", str(workspace / "out"), "--model",
                 str(workspace / "model"), "--steps", "1", "--quiet", *options])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("vb predict")]
    assert len(lines) == 1 and lines[0].startswith("vb predict: error: "), err
    assert snapshot(workspace) == before and not (workspace / "out").exists()
    return lines[0]


@pytest.mark.parametrize("dtype", ["float8", "float8_e4m3fn", "int8", "float64", "Tensor"])
def test_a_dtype_the_pipeline_cannot_use_is_refused_before_loading(workspace, capsys, dtype):
    line = predict_refused(workspace, capsys, "--dtype", dtype)
    assert f"dtype {dtype!r}: expected float32, bfloat16, float16" in line


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", 'model_index.json: expected a JSON object whose "_class_name" names a diffusers pipeline'),
    ("not json", "model_index.json: not readable JSON"),
    (json.dumps({"_class_name": 5}), 'expected a JSON object whose "_class_name" names'),
])
def test_a_model_index_that_is_not_an_object_is_a_one_line_error(workspace, capsys, content, message):
    (workspace / "model" / "model_index.json").write_text(content)
    assert message in predict_refused(workspace, capsys)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_pipeline_weights_are_a_one_line_error(workspace, capsys, damage):
    weights = workspace / "model" / "unet" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else bytes(range(256)) * 64)
    line = predict_refused(workspace, capsys)
    assert f"model {str(workspace / 'model')!r}: cannot load the pipeline" in line


def test_folder_like_model_strings_are_never_taken_for_hub_ids():
    backend = DiffusersBackend()
    assert backend.can_load("black-forest-labs/FLUX.2-klein-4B")
    for model in ("./nope", "../nope", "~/nope", "/abs/nope", "a/b/c"):
        assert not backend.can_load(model)


def test_a_rerun_with_other_classes_is_refused_naming_them(workspace, capsys):
    args = ["predict", "semantic", str(workspace / "a.png"), "-o", str(workspace / "out"), "--model",
            str(workspace / "model"), "--steps", "1", "--megapixels", "0.005", "--quiet"]
    assert main(args + ["--classes", "cat, sky"]) == 0
    capsys.readouterr()
    before = snapshot(workspace)
    assert main(args + ["--classes", "cat, dog"]) == 1
    err = capsys.readouterr().err
    ours = [line for line in err.strip().splitlines() if line.startswith("vb predict")]  # not diffusers' loading bars
    assert "Traceback" not in err and len(ours) == 1
    assert ours[0].startswith(f"vb predict: error: {workspace / 'out'}: a.json was predicted with classes {{\"cat\"")
    assert "--overwrite" in ours[0] and snapshot(workspace) == before
    assert main(args + ["--classes", "cat, sky"]) == 0  # the same classes resume
    assert "skipping 1 image(s)" in capsys.readouterr().err
