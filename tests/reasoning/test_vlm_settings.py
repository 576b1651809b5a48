"""The vision-language model settings are run settings (vb_plugins.settings): declared once, read by guided(),
refused by a bare Predictor, in the run signature; GuidedPredictor paints through Predictor.generate / decode
and images that share a class share its batches."""

import json

import numpy as np
import pytest
from gemini_vlm_fake import KEY, TEXT_MODEL
from PIL import Image
from test_guided import Painter, gemini_gate, photo

from vb_plugins.errors import InputError
from vb_plugins.predict import Predictor
from vb_plugins.reasoning import GuidedPredictor, guided, load_gate
from vb_plugins.settings import SETTINGS, VLM_SETTINGS, RunSettings


def test_the_vlm_settings_are_declared_once_with_the_others():
    assert set(VLM_SETTINGS) <= set(SETTINGS)
    assert [SETTINGS[name].option for name in VLM_SETTINGS] == ["--rewriter", "--gate", "--gate-threshold",
                                                                "--queries"]
    assert not SETTINGS["queries"].form and SETTINGS["rewriter"].form and SETTINGS["gate"].form
    settings = RunSettings(gate="gemini:x", gate_threshold=0.7)
    assert settings.signature()["gate"] == "gemini:x" and settings.signature()["gate_threshold"] == 0.7
    assert "rewriter" not in settings.signature() and "queries" not in RunSettings().signature()
    with pytest.raises(InputError, match=r"^gate_threshold=1.5: must be from 0 to 1$"):
        RunSettings(gate_threshold=1.5)


def test_a_bare_predictor_refuses_to_paint_without_the_model_its_settings_name():
    painter = Painter()
    predictor = Predictor("referring", painter, expression="what keeps food cold", rewriter="gemini:x")
    with pytest.raises(InputError, match=r"^rewriter: a Predictor runs no vision-language model; predict through "
                                         r"vb_plugins\.reasoning\.guided"):
        predictor.predict([photo()])
    assert painter.prompts == []


def test_guided_reads_the_rewriter_from_the_settings(fake):
    fake.answer = lambda question, image: json.dumps({"absent": False, "expression": "the white refrigerator"})
    painter = Painter()
    predictor = guided(Predictor("referring", painter, expression="what keeps food cold",
                                 rewriter=f"gemini:{TEXT_MODEL}"),
                       vlm_options={"api_key": KEY, "base_url": fake.base_url})
    assert isinstance(predictor, GuidedPredictor)
    [prediction] = predictor.predict([photo()])
    assert prediction.extras["rewrite"]["expression"] == "the white refrigerator"
    assert "refrigerator" in painter.prompts[0] and prediction.settings["rewriter"] == f"gemini:{TEXT_MODEL}"
    assert predictor.settings.rewriter == f"gemini:{TEXT_MODEL}"
    assert predictor.settings.signature()["rewriter"] == f"gemini:{TEXT_MODEL}"


def test_a_custom_prompt_is_not_combined_with_a_rewriter(fake):
    painter = Painter()
    predictor = Predictor("referring", painter, prompt='Paint "the fridge" in white, everything else black.',
                          rewriter=f"gemini:{TEXT_MODEL}")
    with pytest.raises(InputError, match="^prompt: a custom prompt is painted as given"):
        guided(predictor, vlm_options={"api_key": KEY, "base_url": fake.base_url})
    assert painter.prompts == [] and fake.text_requests == []


def test_the_guided_settings_name_the_gate_and_its_threshold_as_run(fake):
    gate = gemini_gate(fake, {"cat"})
    predictor = guided(Predictor("instance", Painter(), classes="cat, dog"), gate=gate)
    signature = predictor.settings.signature()
    assert signature["gate"] == f"gemini:{TEXT_MODEL}" and signature["gate_threshold"] == 0.5
    assert predictor.base.settings.gate is None  # the painting predictor runs no model itself
    other = guided(Predictor("instance", Painter(), classes="cat, dog", gate="gemini:other", gate_threshold=0.8))
    assert other.settings.signature()["gate"] == "gemini:other" and other.settings.gate_threshold == 0.8


def test_queries_setting_gives_each_image_its_text_by_file_name(tmp_path):
    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps({"a.png": "the red cup", "b": "the blue mug"}))
    folder = tmp_path / "in"
    folder.mkdir()
    for name, seed in (("a", 0), ("b", 1)):
        Image.fromarray(photo(seed)).save(folder / f"{name}.png")
    painter = Painter()
    predictor = guided(Predictor("referring", painter, queries=str(queries)))
    predictions = predictor.predict([str(folder / "a.png"), str(folder / "b.png")])
    assert [p.extras["query"] for p in predictions] == ["the red cup", "the blue mug"]
    assert predictor.settings.queries == str(queries) and predictions[0].settings["queries"] == "per image"


def test_images_that_share_a_class_share_its_batches(fake):
    """Instance passes are generated class by class across the window: the cat of both images in one batch."""
    def answer(question, image):
        present = " cat " in question or (" dog " in question and bool(image.mean() < 127))
        return json.dumps({"present": present, "score": 0.9 if present else 0.1})

    fake.answer = answer
    gate = load_gate(f"gemini:{TEXT_MODEL}", api_key=KEY, base_url=fake.base_url)
    painter = Painter()
    predictor = guided(Predictor("instance", painter, classes="cat, dog, sky", batch_size=4), gate=gate)
    dark, bright = photo(0) // 3, np.clip(photo(1).astype(int) + 140, 0, 255).astype(np.uint8)
    both, only_cat = predictor.predict([dark, bright], keys=["dark", "bright"])
    # cat for both images (one batch), dog for the dark one: two generator calls, three paintings
    assert predictor.engine.generator_calls == 2 and len(painter.prompts) == 3
    assert sorted(set(both.extras["classes"])) == ["cat", "dog"] and set(only_cat.extras["classes"]) == {"cat"}
    assert len(both.visualizations) == 2 and len(only_cat.visualizations) == 1
    assert both.prompts == [p for p in both.prompts if "Each cat" in p or "Each dog" in p] and len(both.prompts) == 2
