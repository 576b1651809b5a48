"""GuidedPredictor: the rewrite reaches the generator's prompt and is asked once per (image, query); "absent"
and absent classes cost no generation; failed questions fail only their image. The generator paints from
the prompt it got (a scripted painter), the rewriters and gates are the Gemini ones on a loopback server, or
the real tiny VLM."""

import json

import numpy as np
import pytest
from gemini_vlm_fake import KEY, TEXT_MODEL

import vb_plugins
from vb_plugins.errors import InputError, ModelError, RemoteAPIError
from vb_plugins.predict import Predictor
from vb_plugins.reasoning import AnswerCache, GuidedPredictor, guided, load_gate, load_rewriter
from vb_plugins.testing.generators import PaintingGenerator
from vb_plugins.testing.tiny_vlm import forced_answers

SIZE = (48, 64)
STRIPES = {"cat": slice(0, 16), "dog": slice(16, 32), "sky": slice(32, 48), "background": slice(48, 64)}


def photo(seed=0):
    return np.random.default_rng(seed).integers(0, 256, SIZE + (3,), dtype=np.uint8)


class Painter(PaintingGenerator):
    """Paints what the prompt asks for, readably: the referred object as a white box; semantic classes each in a
    stripe of their own, in the colour the prompt gives; an instance class as two blobs in its stripe."""

    def __init__(self):
        super().__init__(self.paint_prompt, megapixels=SIZE[0] * SIZE[1] / 1e6)  # paints at the input size
        self.prompts = []  # one per painted image

    def paint_prompt(self, image, prompt):
        self.prompts.append(prompt)
        painted = np.zeros(image.shape, np.uint8)
        if "segmentation masks" in prompt:  # referring
            painted[10:30, 10:40] = 255
            return painted
        task = "semantic" if "color mapping" in prompt else "instance"
        spec = vb_plugins.get_task(task).make_spec(prompt=prompt)
        for name, colour in spec.classes:
            if task == "semantic":
                painted[:, STRIPES[name]] = colour
            else:
                columns = STRIPES[name]
                painted[4:20, columns.start + 2:columns.stop - 2] = (250, 30, 30)
                painted[26:44, columns.start + 2:columns.stop - 2] = (30, 30, 250)
        return painted


def rewriter(fake):
    return load_rewriter(f"gemini:{TEXT_MODEL}", api_key=KEY, base_url=fake.base_url, sleep=lambda seconds, stop: None)


def gemini_gate(fake, present):
    fake.answer = lambda question, image: json.dumps(
        {"present": True, "score": 0.9 if any(f" {name} " in question for name in present) else 0.1})
    return load_gate(f"gemini:{TEXT_MODEL}", api_key=KEY, base_url=fake.base_url)


def test_the_rewrite_reaches_the_prompt_and_is_asked_once_per_image_and_query(fake):
    fake.answer = lambda question, image: json.dumps({"absent": False, "expression": "the white refrigerator"})
    painter = Painter()
    predictor = guided(Predictor("referring", painter, expression="the object that keeps food cold"),
                       rewriter=rewriter(fake))
    a, b = photo(0), photo(1)
    first = predictor.predict([a, b, a.copy()], keys=["a", "b", "a-again"])
    assert len(fake.text_requests) == 2  # the same picture twice: one question
    second = predictor.predict([b, a], keys=["b2", "a2"])
    assert len(fake.text_requests) == 2 and predictor.cache.calls == 2 and predictor.cache.hits == 3
    for prediction in first + second:
        assert prediction.prompts == ["This image shows segmentation masks from the given image. The background is "
                                      "black color. The white refrigerator is represented by a solid white."]
        assert prediction.extras["rewrite"] == {"query": "the object that keeps food cold", "absent": False,
                                                "expression": "the white refrigerator", "model": f"gemini:{TEXT_MODEL}",
                                                "answer": '{"absent": false, "expression": "the white refrigerator"}'}
        assert prediction.spec.expression == "the object that keeps food cold"  # the run's spec: the query
        assert prediction.settings["rewriter"] == f"gemini:{TEXT_MODEL}"
        assert prediction.values[10:30, 10:40].all() and prediction.values.sum() == 20 * 30
    assert painter.prompts and all("refrigerator" in p for p in painter.prompts)
    assert predictor.prompts is None and predictor.describe()["rewriter"] == f"gemini:{TEXT_MODEL}"


def test_absent_gives_an_empty_mask_without_calling_the_generator(fake):
    fake.answer = lambda question, image: json.dumps(
        {"absent": bool(image.mean() > 127), "expression": "" if image.mean() > 127 else "the cup"})
    painter = Painter()
    predictor = guided(Predictor("referring", painter, expression="something to drink from"),
                       rewriter=rewriter(fake))
    bright = np.full(SIZE + (3,), 220, np.uint8)
    dark = np.full(SIZE + (3,), 20, np.uint8)
    [absent, present] = predictor.predict([bright, dark], keys=["bright", "dark"])
    assert len(painter.prompts) == 1 and "The cup is represented" in painter.prompts[0]
    assert predictor.engine.generator_calls == 1 and predictor.generations_skipped == 1
    assert absent.key == "bright" and absent.values.shape == SIZE and not absent.values.any()
    assert absent.visualizations == [] and absent.prompts == [] and absent.extras["rewrite"]["absent"]
    assert absent.confidence.shape == SIZE and absent.preview().shape == SIZE + (3,)
    assert present.values.any() and present.extras["rewrite"]["expression"] == "the cup"


def test_a_failed_rewrite_fails_only_its_image(fake):
    fake.answer = lambda question, image: (500, {"error": {"code": 500, "status": "INTERNAL", "message": "boom"}}) \
        if image.mean() > 127 else None
    predictor = guided(Predictor("referring", Painter(), expression="a cup"),
                       rewriter=load_rewriter(f"gemini:{TEXT_MODEL}", api_key=KEY, base_url=fake.base_url,
                                              sleep=lambda seconds, stop: None))
    images = [photo(0) // 2, np.full(SIZE + (3,), 220, np.uint8), photo(2) // 2]
    failures = []
    predictions = predictor.predict(images, keys=["one", "two", "three"],
                                    on_error=lambda key, error: failures.append((key, str(error))))
    assert [p.key for p in predictions] == ["one", "three"]
    [(key, message)] = failures
    assert key == "two" and message.startswith(f"gemini:{TEXT_MODEL}: service unavailable") and "\n" not in message
    with pytest.raises(RemoteAPIError, match="service unavailable"):  # without a handler it is raised
        predictor.predict(images[1:2])


def test_instance_classes_judged_absent_are_not_generated_and_come_back_empty(fake):
    painter = Painter()
    predictor = guided(Predictor("instance", painter, classes="cat, dog, sky"), gate=gemini_gate(fake, {"cat"}))
    ungated = Predictor("instance", Painter(), classes="cat, dog, sky")
    [gated_prediction] = predictor.predict([photo()])
    [full_prediction] = ungated.predict([photo()])
    assert len(painter.prompts) == 1 and "Each cat is colored" in painter.prompts[0]
    assert ungated.engine.generator_calls == 3 and predictor.engine.generator_calls == 1
    assert gated_prediction.extras["classes"] == ["cat", "cat"]
    assert sorted(set(full_prediction.extras["classes"])) == ["cat", "dog", "sky"]
    cat_ids = full_prediction.values * np.isin(full_prediction.values, [1, 2])
    assert np.array_equal(gated_prediction.values, cat_ids)  # the cat instances, as without a gate
    gate = {entry["phrase"]: (entry["present"], entry["score"]) for entry in gated_prediction.extras["gate"]}
    assert gate == {"cat": (True, 0.9), "dog": (False, 0.1), "sky": (False, 0.1)}
    assert gated_prediction.spec.class_names == ["cat", "dog", "sky"]
    assert gated_prediction.settings["gate"] == f"gemini:{TEXT_MODEL}"
    assert gated_prediction.settings["gate_threshold"] == 0.5


def test_semantic_labels_keep_the_runs_class_numbers_when_classes_are_left_out(fake):
    classes = {"cat": "red", "dog": "lime", "sky": "blue", "background": "white"}
    painter = Painter()
    predictor = guided(Predictor("semantic", painter, classes=classes), gate=gemini_gate(fake, {"sky"}))
    [prediction] = predictor.predict([photo()])
    [prompt] = painter.prompts
    assert '"sky": "blue"' in prompt and '"background": "white"' in prompt and "cat" not in prompt
    assert all(" background " not in r["question"] for r in fake.text_requests)  # never asked about
    assert len(fake.text_requests) == 3
    assert (prediction.values[:, STRIPES["sky"]] == 3).all()
    assert (prediction.values[:, STRIPES["background"]] == 4).all()
    assert (prediction.values[:, :32] == 0).all()  # cat and dog were not painted: unlabeled
    assert prediction.extras["names"] == ["cat", "dog", "sky", "background"]


def test_no_class_present_means_no_generation(fake):
    painter = Painter()
    semantic = guided(Predictor("semantic", painter, classes={"cat": "red", "background": "white"}),
                      gate=gemini_gate(fake, set()))
    instance = guided(Predictor("instance", painter, classes="cat, dog"), gate=semantic.gate)
    [labels] = semantic.predict([photo()])
    [instances] = instance.predict([photo()])
    assert painter.prompts == []
    assert (labels.values == 2).all()  # all background, the one class never asked about
    assert not instances.values.any() and instances.extras["classes"] == [] and instances.visualizations == []
    assert instances.instance_masks()[0].shape == (0,) + SIZE


def test_the_local_vlm_end_to_end_rewrites_for_the_generator(tiny_vlm):
    """The real tiny Qwen2-VL answers (forced), the painter receives its expression, each image is asked once."""
    answers = forced_answers(tiny_vlm, "the red cup")
    predictor = guided(Predictor("referring", Painter(), expression="what holds coffee"), rewriter=str(tiny_vlm),
                       vlm_options={"generation_options": {"logits_processor": answers}, "device": "cpu"})
    predictions = predictor.predict([photo(0), photo(1), photo(0)])
    assert predictor.rewriter.vlm.calls == 2
    assert all(p.prompts[0].endswith("The red cup is represented by a solid white.") for p in predictions)
    assert predictions[0].settings["rewriter"] == str(tiny_vlm)


def test_the_local_vlm_gates_instance_classes(tiny_vlm):
    answers = forced_answers(tiny_vlm, {"one dog in": "no", "": "yes"})
    gate = load_gate(str(tiny_vlm), generation_options={"logits_processor": answers})
    painter = Painter()
    [prediction] = guided(Predictor("instance", painter, classes="cat, dog"), gate=gate).predict([photo()])
    assert len(painter.prompts) == 1 and "Each cat" in painter.prompts[0]
    assert [(e["phrase"], e["present"], e["score"]) for e in prediction.extras["gate"]] == [("cat", True, 1.0),
                                                                                            ("dog", False, 0.0)]


def test_a_local_vlm_error_is_one_line_and_loses_no_other_image(tiny_vlm):
    predictor = guided(Predictor("referring", Painter(), expression="what holds coffee"), rewriter=str(tiny_vlm),
                       vlm_options={"generation_options": {"logits_processor": forced_answers(tiny_vlm, "a cup")}})
    model = predictor.rewriter.vlm.model
    real_generate, calls = model.generate, []

    def generate(**inputs):  # the real model, which runs out of memory on the second question
        calls.append(inputs["pixel_values"].shape)
        if len(calls) == 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nSee the documentation")
        return real_generate(**inputs)

    model.generate = generate
    failures = []
    predictions = predictor.predict([photo(0), photo(1), photo(2)], keys=["a", "b", "c"],
                                    on_error=lambda key, error: failures.append((key, error)))
    assert [p.key for p in predictions] == ["a", "c"] and len(calls) == 3
    assert all(p.extras["rewrite"]["expression"] == "a cup" for p in predictions)
    [(key, error)] = failures
    assert key == "b" and isinstance(error, ModelError)
    assert str(error) == (f"transformers:{tiny_vlm}: answering failed: RuntimeError: CUDA out of memory. Tried to "
                          "allocate 2.00 GiB")


def test_what_cannot_be_guided_is_refused_before_any_model_loads(fake):
    painter = Painter()
    with pytest.raises(InputError, match=r"rewriter: rewrites the query of a referring task \(referring --query "
                                         r"TEXT\); task 'semantic' has classes"):
        guided(Predictor("semantic", painter, classes="cat"), rewriter="gemini:x")
    with pytest.raises(InputError, match="task 'referring' was given no query"):
        guided(Predictor("referring", painter), rewriter="gemini:x")
    with pytest.raises(InputError, match="presence gate: applies to the classes of semantic and instance tasks, "
                                         "not to task 'referring'"):
        guided(Predictor("referring", painter, expression="a cup"), gate="gemini:x")
    with pytest.raises(InputError, match="not to task 'instance' without classes"):
        guided(Predictor("instance", painter), gate="gemini:x")
    with pytest.raises(InputError, match="cannot be combined"):
        GuidedPredictor(Predictor("instance", painter, classes="cat"), rewriter="gemini:x", gate="gemini:x")
    with pytest.raises(InputError, match="given without a presence gate"):
        guided(Predictor("instance", painter, classes="cat"), threshold=0.3)
    plain = Predictor("depth", painter)
    assert guided(plain) is plain
    assert fake.text_requests == []


def test_the_cache_asks_each_distinct_question_once():
    asked = []

    def ask_many(requests, should_stop):
        asked.append([text for _, text in requests])
        return [text.upper() for _, text in requests]

    cache = AnswerCache()
    image, same_pixels = photo(0), photo(0)
    assert cache.answers("k", ask_many, [(image, "a"), (same_pixels, "a"), (image, "b")]) == ["A", "A", "B"]
    assert cache.answers("k", ask_many, [(photo(1), "a"), (image, "b")]) == ["A", "B"]
    assert asked == [["a", "b"], ["a"]] and cache.calls == 3 and cache.hits == 2


def test_per_image_texts_without_a_model_are_painted_as_given():
    painter = Painter()
    predictor = guided(Predictor("referring", painter), texts={"a": "the red cup", "b": "the blue  mug\n"})
    failures = []
    predictions = predictor.predict([photo(0), photo(1), photo(2)], keys=["a", "b", "c"],
                                    on_error=lambda key, error: failures.append((key, str(error))))
    assert [p.extras["query"] for p in predictions] == ["the red cup", "the blue mug"]
    assert ["The red cup is" in painter.prompts[0], "The blue mug is" in painter.prompts[1]] == [True, True]
    assert failures == [("c", "c: no query or phrase was given for this image")]
    assert predictions[0].settings["queries"] == "per image" and "rewriter" not in predictions[0].settings
    with pytest.raises(InputError, match="is empty or not text"):
        guided(Predictor("instance", painter), texts={"a": "  "})
