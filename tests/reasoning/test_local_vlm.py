"""The local transformers backend on tiny random-weight Qwen2-VL / Qwen2.5-VL models built in code and loaded
from safetensors folders: real chat templates, image processing and generation end to end."""

import json
import shutil

import numpy as np
import pytest
import torch

from vb_plugins.errors import InputError, ModelError
from vb_plugins.reasoning import load_gate, load_rewriter
from vb_plugins.reasoning.local import TransformersGate, TransformersRewriter
from vb_plugins.testing.tiny_vlm import forced_answers


def photo(shape=(48, 64), seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape + (3,), dtype=np.uint8)


@pytest.mark.parametrize("family", ["tiny_vlm", "tiny_vlm_25"])
def test_a_forced_answer_goes_through_the_real_model_and_comes_back_parsed(family, request):
    folder = request.getfixturevalue(family)
    rewriter = load_rewriter(str(folder), device="cpu",
                             generation_options={"logits_processor": forced_answers(folder, '"The red cup".')})
    assert isinstance(rewriter, TransformersRewriter) and rewriter.vlm.model.dtype == torch.float32
    rewrite = rewriter.rewrite(photo(), "what holds coffee")
    assert rewrite.expression == "The red cup" and rewrite.answer == '"The red cup".'
    assert rewrite.model == f"transformers:{folder}"
    assert rewriter.vlm.calls == 1
    absent = load_rewriter(str(folder), generation_options={"logits_processor": forced_answers(folder, "absent")})
    assert absent.rewrite(photo(), "a unicorn").absent


def test_a_forced_yes_or_no_sets_the_gate_score_from_the_first_token(tiny_vlm):
    answers = forced_answers(tiny_vlm, {"one cat in": "yes", "one dog in": "No, there is none."})
    gate = load_gate(str(tiny_vlm), threshold=0.5, generation_options={"logits_processor": answers})
    assert isinstance(gate, TransformersGate)
    cat, dog = gate.presence(photo(), "cat"), gate.presence(photo(), "dog")
    assert (cat.present, cat.score, cat.answer) == (True, 1.0, "yes")
    assert (dog.present, dog.score) == (False, 0.0) and dog.answer.startswith("No")


def test_unforced_random_answers_are_read_without_failing(tiny_vlm):
    rewriter = load_rewriter(str(tiny_vlm))
    gate = load_gate(str(tiny_vlm), threshold=0.5)
    for seed in range(3):
        try:
            rewrite = rewriter.rewrite(photo(seed=seed), "the object that keeps food cold")
        except ModelError as error:  # only an empty answer may fail, and then in one line
            assert "\n" not in str(error) and "no expression" in str(error)
            continue
        assert rewrite.absent or (rewrite.expression and "\n" not in rewrite.expression
                                  and len(rewrite.expression) <= 160)
        presence = gate.presence(photo(seed=seed), "cat")
        assert 0.0 < presence.score < 1.0 and presence.present == (presence.score >= 0.5)


def test_the_image_reaches_the_model(tiny_vlm):
    """Different pictures, same question: the random model's yes-probability follows the pixels."""
    gate = load_gate(str(tiny_vlm))
    scores = {gate.presence(photo(seed=seed), "cat").score for seed in range(3)}
    assert len(scores) == 3


def test_an_error_inside_generation_is_one_line(tiny_vlm):
    from transformers import LogitsProcessor, LogitsProcessorList

    class Broken(LogitsProcessor):
        def __call__(self, input_ids, scores):
            raise RuntimeError("CUDA error: device-side assert triggered\nCUDA kernel errors might be reported later")

    rewriter = load_rewriter(str(tiny_vlm), generation_options={"logits_processor": LogitsProcessorList([Broken()])})
    with pytest.raises(ModelError) as info:
        rewriter.rewrite(photo(), "what holds coffee")
    assert str(info.value) == (f"transformers:{tiny_vlm}: answering failed: RuntimeError: CUDA error: device-side "
                               "assert triggered")


def _copy(folder, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def test_pickled_weights_are_refused_before_loading(tiny_vlm, tmp_path):
    folder = _copy(tiny_vlm, tmp_path)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ModelError, match=r"no \.safetensors weights \(found pytorch_model\.bin: pickled weights are "
                                         "refused\\)"):
        load_rewriter(str(folder))


def test_a_model_that_needs_its_own_code_is_refused(tiny_vlm, tmp_path):
    folder = _copy(tiny_vlm, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="my_secret_vlm", auto_map={"AutoModelForImageTextToText": "modeling.MyVLM"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ModelError, match="never runs"):
        load_gate(str(folder))


def test_a_model_without_a_chat_template_is_refused(tiny_vlm, tmp_path):
    folder = _copy(tiny_vlm, tmp_path)
    (folder / "chat_template.jinja").unlink()
    with pytest.raises(ModelError, match="has no chat template"):
        load_rewriter(str(folder))


def test_folders_that_are_not_vlms(tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        load_rewriter("./no-such-vlm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no rewriter backend recognises it"):
        load_rewriter(str(tmp_path / "empty"))
    from vb_plugins.testing.tiny_pipeline import _qwen_tokenizer

    text_only = tmp_path / "text-only"  # a chat LLM with no vision tower
    from transformers import Qwen2Config, Qwen2ForCausalLM

    Qwen2ForCausalLM(Qwen2Config(vocab_size=600, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1)).save_pretrained(text_only)
    _qwen_tokenizer().save_pretrained(text_only)
    with pytest.raises(ModelError, match="cannot load"):
        load_gate(str(text_only))


@pytest.mark.gpu
def test_on_cuda_the_vlm_defaults_to_bfloat16_and_answers_the_same(tiny_vlm):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    answers = forced_answers(tiny_vlm, {"one cat in": "yes", "": "the red cup"})
    rewriter = load_rewriter(str(tiny_vlm), device="cuda", generation_options={"logits_processor": answers})
    assert rewriter.vlm.model.dtype == torch.bfloat16 and rewriter.vlm.model.device.type == "cuda"
    assert rewriter.rewrite(photo(), "what holds coffee").expression == "the red cup"
    gate = load_gate(str(tiny_vlm), device="cuda", generation_options={"logits_processor": answers})
    assert gate.presence(photo(), "cat").score == 1.0
