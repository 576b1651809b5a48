import json
import re

import numpy as np
import pytest

import vb_plugins
from vb_plugins.errors import CancelledError
from vb_plugins.generation import Engine, Job
from vb_plugins.predict import Predictor
from vb_plugins.testing.generators import PaintingGenerator, TinyTorchGenerator


def photos(count, size=(48, 64), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size + (3,), dtype=np.uint8) for _ in range(count)]


def test_batched_output_equals_per_image_output():
    images = photos(5)
    batched = Predictor("depth", TinyTorchGenerator(), batch_size=4).predict(images)
    single = Predictor("depth", TinyTorchGenerator(), batch_size=1).predict(images)
    for a, b in zip(batched, single):
        assert np.array_equal(a.visualization, b.visualization)
        assert np.array_equal(a.values, b.values)


def test_each_prompt_is_encoded_once_per_run():
    generator = TinyTorchGenerator()
    predictor = Predictor("depth", generator, batch_size=2)
    predictor.predict(photos(9))
    assert generator.prompt_encodings == 1
    assert generator.calls == [2, 2, 2, 2, 1]
    voting = TinyTorchGenerator()
    Predictor("semantic", voting, classes="cat, dog, sky", passes=3, batch_size=4).predict(photos(5))
    assert voting.prompt_encodings == 3  # one per permuted legend, not per image


class OutOfMemoryAbove:
    """Wraps a generator and fails like CUDA does when a batch is larger than ``limit``."""

    def __init__(self, generator, limit):
        self.inner, self.limit = generator, limit

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, images, *args, **kwargs):
        if len(images) > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner.generate(images, *args, **kwargs)


def test_out_of_memory_halves_the_batch_and_keeps_results_identical():
    generator = TinyTorchGenerator()
    wrapped = OutOfMemoryAbove(generator, limit=2)
    engine = Engine(wrapped, batch_size=8)
    images = photos(7, size=(64, 64))
    prompt = "Generate a metric depth map of the input image."
    embedding_jobs = [Job(i, image, prompt, 0) for i, image in enumerate(images)]
    results = engine.run(embedding_jobs)
    assert engine.batch_size == 2
    assert generator.calls == [2, 2, 2, 1]
    reference = Engine(TinyTorchGenerator(), batch_size=1).run(embedding_jobs)
    assert all(np.array_equal(results[k], reference[k]) for k in reference)


def test_out_of_memory_at_batch_size_one_is_raised():
    engine = Engine(OutOfMemoryAbove(TinyTorchGenerator(), limit=0), batch_size=4)
    with pytest.raises(RuntimeError, match="out of memory"):
        engine.run([Job(0, photos(1, (64, 64))[0], "p", 0)])


def test_cancellation_stops_between_batches_and_keeps_finished_work():
    generator = TinyTorchGenerator()
    calls = []
    engine = Engine(generator, batch_size=2, progress=lambda done, total: calls.append((done, total)),
                    should_stop=lambda: len(calls) >= 2)
    jobs = [Job(i, image, "p", 0) for i, image in enumerate(photos(7, (64, 64)))]
    with pytest.raises(CancelledError, match="after 4 of 7"):
        engine.run(jobs)
    assert calls == [(2, 7), (4, 7)]
    assert sorted(engine.results) == [0, 1, 2, 3]


def test_cancelled_prediction_keeps_what_was_yielded():
    flag = {"stop": False}
    predictor = Predictor("depth", TinyTorchGenerator(), batch_size=2)
    stream = predictor.predict_iter(photos(8), should_stop=lambda: flag["stop"], window=2)
    first = next(stream)
    assert first.values.shape == (48, 64)
    flag["stop"] = True
    second = next(stream)  # already generated with the first: finished work is handed over
    assert second.key == 1
    with pytest.raises(CancelledError, match="after 2 images"):
        next(stream)


def test_stop_request_reaches_the_denoising_loop():
    generator = TinyTorchGenerator()
    polls = []

    def should_stop():
        polls.append(1)
        return len(polls) > 1  # let the engine start the batch, then stop inside the generator

    with pytest.raises(CancelledError, match="during generation"):
        Engine(generator, batch_size=2, should_stop=should_stop).run([Job(0, photos(1, (64, 64))[0], "p", 0)])


def test_resolution_policy_keeps_aspect_and_returns_input_size():
    generator = TinyTorchGenerator()
    prediction = Predictor("depth", generator).predict([photos(1, (100, 60))[0]])[0]
    height, width = prediction.settings["generated_size"]
    assert height % 8 == 0 and width % 8 == 0
    assert abs(height / width - 100 / 60) < 0.1
    assert prediction.values.shape == (100, 60) and prediction.confidence.shape == (100, 60)
    assert prediction.visualization.shape == (height, width, 3)


def depth_painter(depth_for_shape):
    codec = vb_plugins.get_task("depth").codec
    return lambda image, prompt: codec.encode(depth_for_shape(image.shape[:2]))


def test_depth_ensemble_uses_the_median_and_reports_spread():
    def truth(shape):
        return np.full(shape, 2.5)
    generator = PaintingGenerator(depth_painter(truth), noise=3.0)
    one = Predictor("depth", generator, ensemble=1).predict(photos(1, (64, 64)))[0]
    five = Predictor("depth", generator, ensemble=5).predict(photos(1, (64, 64)))[0]
    assert one.uncertainty is None and five.uncertainty.shape == (64, 64)
    assert five.uncertainty.mean() > 0
    assert np.abs(five.values - 2.5).mean() < np.abs(one.values - 2.5).mean()
    assert len(five.visualizations) == 5


def legend_painter(labels_for_shape, swap_on_legend=None):
    """Paints labels with the legend written in the prompt; optionally binds colours wrongly for one legend."""

    def paint(image, prompt):
        legend = json.loads(re.search(r"\{.*\}", prompt).group(0))
        colours = [vb_plugins.codecs.parse_colour(c) for c in legend.values()]
        if swap_on_legend is not None and list(legend.values()) == swap_on_legend:
            colours[0], colours[1] = colours[1], colours[0]
        table = np.array([(0, 0, 0)] + colours, np.uint8)
        return table[labels_for_shape(image.shape[:2])]

    return paint


def test_semantic_legend_voting_corrects_a_binding_mistake():
    def labels(shape):
        out = np.ones(shape, np.int64)
        out[:, shape[1] // 2 :] = 2
        return out

    spec = vb_plugins.get_task("semantic").make_spec(classes={"cat": "red", "dog": "blue", "sky": "lime"}, passes=3)
    passes = vb_plugins.get_task("semantic").passes(spec)
    wrong_legend = [vb_plugins.codecs.format_colour(c, "name") for _, c in passes[1].classes]
    generator = PaintingGenerator(legend_painter(labels, swap_on_legend=wrong_legend))
    classes = {"cat": "red", "dog": "blue", "sky": "lime"}
    single = Predictor("semantic", generator, classes=classes).predict(photos(1))[0]
    assert np.array_equal(single.values, labels((48, 64)))
    voted = Predictor("semantic", generator, spec=spec).predict(photos(1))[0]
    assert np.array_equal(voted.values, labels((48, 64)))
    assert voted.uncertainty.max() == pytest.approx(1 / 3)  # one pass of three disagreed


def test_prediction_record_is_json():
    prediction = Predictor("depth", TinyTorchGenerator(), seed=7).predict(photos(1))[0]
    record = json.loads(json.dumps(prediction.record()))
    assert record["settings"]["seed"] == 7 and record["settings"]["generator"] == "tiny-torch"
    assert record["prompts"] == ["Generate a metric depth map of the input image."]
