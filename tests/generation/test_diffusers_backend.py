"""Real diffusers pipeline classes with tiny random weights, saved with save_pretrained and loaded back by
path through the same code users run (no network)."""

import json
import shutil

import numpy as np
import pytest

from vb_plugins.cli import main
from vb_plugins.errors import CancelledError, InputError, ModelError
from vb_plugins.generation import Engine, Job, load_generator
from vb_plugins.predict import Predictor
from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline

FAMILIES = ["flux2-klein", "instruct-pix2pix"]


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    return {family: save_tiny_pipeline(family, root / family) for family in FAMILIES}


def photos(count, seed=0, size=(48, 72)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size + (3,), dtype=np.uint8) for _ in range(count)]


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_equals_per_image_and_prompt_is_encoded_once(pipelines, family):
    generator = load_generator(str(pipelines[family]), device="cpu")
    assert generator.family.name == family
    images = photos(5)
    batched = Predictor("depth", generator, batch_size=4, steps=2, megapixels=0.006).predict(images)
    encodings_after_first_run = generator.prompt_encodings
    single = Predictor("depth", generator, batch_size=1, steps=2, megapixels=0.006).predict(images)
    assert encodings_after_first_run == 1  # one prompt, five images, two batches
    for a, b in zip(batched, single):
        assert a.visualization.shape == b.visualization.shape
        # Batched kernels may round the last bit differently: at most one 8-bit level, almost never.
        difference = np.abs(a.visualization.astype(int) - b.visualization)
        assert difference.max() <= 1 and (difference == 0).mean() > 0.999
        assert a.values.shape == (48, 72)


def test_same_seed_same_output_and_seeds_matter(pipelines):
    generator = load_generator(str(pipelines["flux2-klein"]), device="cpu")
    image = photos(1)[0]
    def run(seed):
        return Predictor("normals", generator, steps=2, seed=seed, megapixels=0.006).predict([image])[0]
    assert np.array_equal(run(3).visualization, run(3).visualization)
    assert not np.array_equal(run(3).visualization, run(4).visualization)


def test_generation_size_respects_the_family_minimum(pipelines):
    generator = load_generator(str(pipelines["flux2-klein"]), device="cpu")
    height, width = generator.size_for(20, 30, 0.0001)
    assert min(height, width) >= 64 and height % generator.multiple == 0 and width % generator.multiple == 0


def test_cancellation_reaches_the_denoising_loop(pipelines):
    generator = load_generator(str(pipelines["flux2-klein"]), device="cpu")
    polls = []
    engine = Engine(generator, batch_size=2, should_stop=lambda: polls.append(1) or len(polls) > 1)
    job = Job(0, photos(1, size=(64, 64))[0], "Generate a metric depth map of the input image.", 0)
    with pytest.raises(CancelledError, match="denoising step 1 of"):
        engine.run([job])


def test_missing_path_and_non_pipeline_directories_fail_before_work(tmp_path):
    with pytest.raises(InputError, match="no generator backend recognises it"):
        load_generator(str(tmp_path / "missing" / "model"))
    (tmp_path / "notapipe").mkdir()
    (tmp_path / "notapipe" / "model_index.json").write_text("{}")
    with pytest.raises(ModelError, match="pipeline class ''"):
        load_generator(str(tmp_path / "notapipe"))


def test_a_pipeline_that_takes_no_image_is_rejected_before_loading_weights(pipelines, tmp_path):
    copy = tmp_path / "t2i"
    shutil.copytree(pipelines["flux2-klein"], copy)
    index = json.loads((copy / "model_index.json").read_text())
    index["_class_name"] = "FluxPipeline"
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="FluxPipeline takes no input image"):
        load_generator(str(copy))


def test_only_safetensors_weights_load(pipelines, tmp_path):
    copy = tmp_path / "pickled"
    shutil.copytree(pipelines["instruct-pix2pix"], copy)
    for weights in copy.rglob("*.safetensors"):
        weights.rename(weights.with_name("diffusion_pytorch_model.bin"))
    with pytest.raises(ModelError, match="cannot load the pipeline"):
        load_generator(str(copy))


def test_vb_predict_with_a_local_pipeline_resumes_and_overwrites(pipelines, tmp_path, capsys):
    from PIL import Image

    for i, image in enumerate(photos(3, size=(40, 60))):
        Image.fromarray(image).save(tmp_path / f"img{i}.png")
    out = tmp_path / "out"
    args = ["predict", "depth", str(tmp_path), "-o", str(out), "--model", str(pipelines["flux2-klein"]),
            "--steps", "2", "--megapixels", "0.005", "--batch-size", "2", "--quiet"]
    assert main(args) == 0
    for i in range(3):
        for suffix in (".generated.png", ".depth.npy", ".depth.png", ".confidence.npy", ".json"):
            assert (out / f"img{i}{suffix}").is_file()
        assert np.load(out / f"img{i}.depth.npy").shape == (40, 60)
    record = json.loads((out / "img0.json").read_text())
    assert record["settings"]["family"] == "flux2-klein" and record["settings"]["steps"] == 2
    (out / "img1.json").unlink()  # as if the run had stopped before finishing img1
    before = (out / "img0.depth.npy").stat().st_mtime_ns
    assert main(args) == 0
    assert "skipping 2 image(s)" in capsys.readouterr().err
    assert (out / "img1.json").is_file() and (out / "img0.depth.npy").stat().st_mtime_ns == before
    assert main(args + ["--overwrite"]) == 0
    assert (out / "img0.depth.npy").stat().st_mtime_ns != before

