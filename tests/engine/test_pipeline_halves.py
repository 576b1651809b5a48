"""The prediction pipeline in two public halves: Predictor.generate -> Generated -> Predictor.decode."""

from __future__ import annotations

import numpy as np
import pytest

from vb_plugins import get_task
from vb_plugins.errors import InputError
from vb_plugins.generated import Generated
from vb_plugins.predict import Predictor
from vb_plugins.testing.degrade import jpeg
from vb_plugins.testing.generators import PaintingGenerator, TinyTorchGenerator


def photos(count, size=(40, 56), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size + (3,), dtype=np.uint8) for _ in range(count)]


def scene_depth(height, width):
    y, x = np.mgrid[0:height, 0:width]
    return (1.0 + 4.0 * x / max(width - 1, 1) + 2.0 * y / max(height - 1, 1)).astype(np.float32)


def depth_painter(quality=None):
    task = get_task("depth")

    def paint(image, prompt):
        painted = task.encode(scene_depth(*image.shape[:2]))
        return jpeg(painted, quality) if quality else painted

    return PaintingGenerator(paint, megapixels=0.004)


def test_predict_is_generate_then_decode():
    images = photos(3)
    predictor = Predictor("semantic", TinyTorchGenerator(), classes="cat, sky", passes=2, ensemble=2, seed=4)
    generated = predictor.generate(images, keys=["a", "b", "c"])
    assert len(generated) == 3 and generated.group == 4 and len(generated.prompts) == 2
    first = generated[0]
    assert first.key == "a" and first.input_size == (40, 56) and len(first.samples) == 2
    assert all(len(per_pass) == 2 for per_pass in first.samples)
    assert first.generated_size == first.requested_size == first.samples[0][0].shape[:2]
    halves = predictor.decode(generated)
    whole = Predictor("semantic", TinyTorchGenerator(), classes="cat, sky", passes=2, ensemble=2,
                      seed=4).predict(images, keys=["a", "b", "c"])
    for a, b in zip(halves, whole):
        assert a.key == b.key and np.array_equal(a.values, b.values) and np.array_equal(a.confidence, b.confidence)
        assert np.array_equal(a.uncertainty, b.uncertainty) and a.prompts == b.prompts
        assert all(np.array_equal(x, y) for x, y in zip(a.visualizations, b.visualizations))
        assert a.values.shape == (40, 56) and a.inside is None


def test_decode_takes_its_mode_as_an_argument():
    predictor = Predictor("depth", depth_painter(quality=40))
    generated = predictor.generate(photos(1, (64, 64)))
    exact, robust = predictor.decode(generated, mode="exact")[0], predictor.decode(generated, mode="robust")[0]
    truth = scene_depth(64, 64)
    error = {name: np.nanmean(np.abs(p.values - truth) / truth) for name, p in (("exact", exact), ("robust", robust))}
    assert error["robust"] < error["exact"]
    assert predictor.decode(generated)[0].settings["decode_mode"] == "auto"
    with pytest.raises(InputError, match="decode mode 'fast'"):
        predictor.decode(generated, mode="fast")


def test_a_batch_painted_elsewhere_decodes_onto_a_reference_with_a_crop_fit():
    """What a native edit graph gives: paintings of a centre crop, to be put back on the original grid."""
    task = get_task("depth")
    painted = task.encode(scene_depth(32, 32))  # the square centre of a 32 x 64 original, as painted
    generated = Generated.from_batch("depth", task.make_spec(), np.stack([painted, painted]), group=2, passes=1)
    assert len(generated) == 1 and generated.group == 2
    prediction = Predictor("depth").decode(generated, mode="exact", size=(32, 64), fit="crop")[0]
    assert prediction.values.shape == (32, 64) and prediction.inside[:, 16:48].all()
    assert not prediction.inside[:, :16].any() and np.isnan(prediction.values[:, :16]).all()
    assert (prediction.confidence[:, :16] == 0).all()
    assert np.allclose(prediction.values[:, 16:48], scene_depth(32, 32), rtol=0.02)
    stretched = Predictor("depth").decode(generated, mode="exact", width=64, height=32)[0]
    assert stretched.values.shape == (32, 64) and stretched.inside is None
    assert Predictor("depth").decode(generated, mode="exact", width=64)[0].values.shape == (64, 64)  # aspect kept
    with pytest.raises(InputError, match="fit 'squash': expected one of stretch, crop"):
        Predictor("depth").decode(generated, fit="squash")
    with pytest.raises(InputError, match="a batch of 2 images does not split into groups of 3"):
        Generated.from_batch("depth", task.make_spec(), np.stack([painted, painted]), group=3, passes=1)


def test_paintings_at_another_size_are_aligned_and_batched_at_the_requested_size():
    task = get_task("depth")
    # A remote-API-like generator: paints at its own size, whatever was asked.
    generator = PaintingGenerator(lambda image, prompt: task.encode(scene_depth(30, 50)), megapixels=0.004)
    predictor = Predictor("depth", generator, ensemble=2)
    generated = predictor.generate(photos(2, (48, 64)))
    requested = generated[0].requested_size
    assert generated[0].generated_size == (30, 50) != requested
    assert generated.batch().shape == (4,) + tuple(requested) + (3,)
    prediction = predictor.decode(generated)[0]
    assert prediction.values.shape == (48, 64) and prediction.settings["generated_size"] == [30, 50]


def test_a_hand_written_prompt_replaces_a_single_pass_prompt_only():
    predictor = Predictor("depth", TinyTorchGenerator())
    predictor.use_prompt("  paint the depth  ")
    assert predictor.generate(photos(1)).prompts == ["paint the depth"]
    voting = Predictor("semantic", TinyTorchGenerator(), classes="cat, sky", passes=2)
    with pytest.raises(InputError, match="prompt: the spec has 2 passes"):
        voting.use_prompt("paint it")
