"""One settings object for every run: declared once, checked once, the same from every adapter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vb_plugins.cli import main
from vb_plugins.errors import InputError
from vb_plugins.settings import SETTINGS, RunSettings, check_widget, from_widget, widget_options


def test_settings_round_trip_through_their_json_form():
    settings = RunSettings(model="org/model", lora="/w/a.safetensors", dtype="bfloat16", steps=3, guidance=2.5,
                           megapixels=0.5, ensemble=3, batch_size=2, seed=7, decode_mode="robust",
                           generator_options={"cpu_offload": True})
    again = RunSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert again == settings and again.generator_options["cpu_offload"] is True
    with pytest.raises(InputError, match=r"unknown setting\(s\) stepz; accepted: model, lora"):
        RunSettings.from_dict({"stepz": 3})


@pytest.mark.parametrize("given, message", [
    ({"steps": 0}, "steps=0: must be a whole number of at least 1"),
    ({"steps": 2.5}, "steps=2.5: must be a whole number of at least 1"),
    ({"batch_size": 0}, "batch_size=0: must be at least 1"),
    ({"seed": "7"}, "seed='7': must be a whole number"),
    ({"guidance": float("nan")}, "guidance=nan: must be a finite number"),
    ({"megapixels": 0}, "megapixels=0: must be a number above 0 and at most 16"),
    ({"dtype": "int8"}, "dtype 'int8': expected float32, bfloat16, float16"),
    ({"decode_mode": "fast"}, "decode mode 'fast': expected one of auto, exact, robust"),
    ({"dialect": "klingon"}, "unknown prompt dialect 'klingon'"),
    ({"cpu_offload": "yes"}, "cpu_offload='yes': must be true or false"),
    ({"generator_options": [1]}, "generator_options=[1]: must be a mapping"),
])
def test_each_rule_is_one_input_error_naming_the_setting(given, message):
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        RunSettings(**given)


def test_blank_text_is_unset_and_numbers_are_normalised():
    settings = RunSettings(model="  ", device="", steps=np.int64(4), megapixels=np.float32(0.5))
    assert settings.model is None and settings.device is None
    assert type(settings.steps) is int and type(settings.megapixels) is float


def test_a_signature_holds_what_decides_results_and_new_settings_only_when_set():
    plain = RunSettings(batch_size=8, device="cpu")
    assert set(plain.signature()) == {"model", "seed", "steps", "guidance", "megapixels", "ensemble", "dialect"}
    tuned = RunSettings(lora="a.safetensors", dtype="float16", decode_mode="exact")
    assert {k: tuned.signature()[k] for k in ("lora", "dtype", "decode_mode")} == \
        {"lora": "a.safetensors", "dtype": "float16", "decode_mode": "exact"}


def test_generator_options_are_what_was_set_and_nothing_else():
    assert RunSettings().generator_kwargs() == {}
    settings = RunSettings(device="cpu", lora="l.safetensors", transformer_weights="t.safetensors", cpu_offload=True,
                           generator_options={"variant": "fp16"})
    assert settings.generator_kwargs() == {"variant": "fp16", "device": "cpu", "lora": "l.safetensors",
                                           "transformer_weights": "t.safetensors", "cpu_offload": True}


def test_predictor_keywords_and_a_settings_object_are_the_same_thing():
    from vb_plugins.predict import Predictor
    from vb_plugins.testing.generators import TinyTorchGenerator

    generator = TinyTorchGenerator()
    by_keywords = Predictor("depth", generator, steps=2, ensemble=2, seed=3)
    by_object = Predictor("depth", generator, settings=RunSettings(steps=2, ensemble=2, seed=3))
    assert by_keywords.settings == by_object.settings
    assert Predictor("depth", settings=by_object.settings, seed=9).settings.seed == 9  # keywords win
    with pytest.raises(InputError, match="task 'depth': unknown option"):
        Predictor("depth", generator, stepz=2)  # not a setting: a task option, and the task refuses it


def test_every_declared_option_is_on_vb_predict(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    usage = capsys.readouterr().out
    for declared in SETTINGS.values():
        if declared.option:
            assert declared.option in usage
    assert "--generator-options" not in usage  # Python only


def test_comfyui_widgets_take_their_ranges_from_the_declaration():
    assert widget_options("device") == ["auto", "cpu", "cuda", "mps"]
    assert widget_options("dtype") == ["auto", "float32", "bfloat16", "float16"]
    assert from_widget("steps", 0) is None and from_widget("steps", 4) == 4
    assert from_widget("dialect", "(model default)") is None
    with pytest.raises(InputError, match="ensemble=65: must be a whole number from 1 to 64"):
        check_widget("ensemble", 65)
    with pytest.raises(InputError, match=r"guidance=-1: must be a number from 0 \(model default\) to 100"):
        check_widget("guidance", -1)
    check_widget("seed", 2**60)  # sent from code beyond the widget's own maximum


def test_vb_predict_takes_the_new_settings_and_records_the_decode_mode(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main(["predict", "depth", str(tmp_path / "a.png"), "-o", str(out), "--decode-mode", "robust",
                 "--quiet"]) == 0
    record = json.loads((out / "a.json").read_text())
    assert record["settings"]["decode_mode"] == "robust"
    # Another decode mode gives other values: the folder's results are not mixed with them.
    assert main(["predict", "depth", str(tmp_path / "a.png"), "-o", str(out), "--decode-mode", "exact",
                 "--quiet"]) == 1
    assert 'predicted with decode_mode "robust", this run asks for "exact"' in capsys.readouterr().err
