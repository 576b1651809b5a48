"""Every run setting reaches a FiftyOne run: the form offers what `vb predict` offers (guidance, dtype,
LoRA, transformer weights, decode mode, ...), declared once in vb_plugins.settings."""

from __future__ import annotations

import pytest

from vb_plugins.fiftyone_tools.painting import PaintBackend
from vb_plugins.settings import SETTINGS


def test_the_form_has_a_field_for_every_declared_setting(fo, make_dataset):
    import fiftyone.operators as foo
    from fiftyone.operators.registry import OperatorRegistry

    dataset = make_dataset(1)
    operator = next(o for o in OperatorRegistry().list_operators() if o.uri == "@vb-plugins/fiftyone/predict")
    ctx = foo.ExecutionContext(request_params={"dataset_name": dataset.name, "params": {"task": "depth"}})
    form = operator.resolve_input(ctx).type.properties
    for name, declared in SETTINGS.items():
        assert (name in form) == declared.form, name
    assert form["guidance"].view.label == "Guidance" and form["ensemble"].default == 1
    assert form["dtype"].type.values == ["float32", "bfloat16", "float16"]


def test_guidance_dtype_lora_and_decode_mode_reach_the_run_and_its_record(fo, make_dataset, run_op, tmp_path):
    dataset = make_dataset(2)
    lora = tmp_path / "style.safetensors"
    lora.write_bytes(b"")
    result = run_op("predict", dataset.view(), {
        "task": "depth", "output_field": "depth", "model": "paint:depth", "guidance": 2.5, "dtype": "bfloat16",
        "lora": str(lora), "decode_mode": "exact", "steps": "3", "output_dir": str(tmp_path / "o")})
    assert result["predicted"] == 2
    assert PaintBackend.load_options == {"dtype": "bfloat16", "lora": str(lora)}
    record = dataset.info["vb_plugins"]["depth"]
    assert record["settings"]["guidance"] == 2.5 and record["settings"]["steps"] == 3
    signature = record["signature"]
    assert (signature["guidance"], signature["dtype"], signature["lora"], signature["decode_mode"]) == \
        (2.5, "bfloat16", str(lora), "exact")
    # The same settings resume the field; another dtype is another run, refused without overwrite.
    again = run_op("predict", dataset.view(), {
        "task": "depth", "output_field": "depth", "model": "paint:depth", "guidance": 2.5, "dtype": "bfloat16",
        "lora": str(lora), "decode_mode": "exact", "steps": 3, "output_dir": str(tmp_path / "o")})
    assert again["predicted"] == 0 and again["already_done"] == 2
    from fiftyone.operators.executor import ExecutionError

    with pytest.raises(ExecutionError, match=r"other settings \(dtype\)"):
        run_op("predict", dataset.view(), {"task": "depth", "output_field": "depth", "model": "paint:depth",
                                           "guidance": 2.5, "lora": str(lora), "decode_mode": "exact", "steps": 3,
                                           "output_dir": str(tmp_path / "o")})


@pytest.mark.parametrize("params, key, message", [
    ({"dtype": "float8"}, "dtype", "dtype 'float8': expected float32, bfloat16, float16"),
    ({"guidance": "lots"}, "guidance", "guidance='lots': expected a number"),
    ({"megapixels": 99}, "megapixels", "megapixels=99: must be a number above 0 and at most 16"),
    ({"decode_mode": "fast"}, "decode_mode", "decode mode 'fast'"),
    ({"steps": 1.5}, "steps", "steps=1.5: must be a whole number of at least 1"),
])
def test_bad_settings_are_refused_on_their_own_form_field(fo, make_dataset, tmp_path, params, key, message):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionError

    from vb_plugins.fiftyone_tools.params import parse_predict_params

    _, errors = parse_predict_params({"task": "depth", **params})
    assert list(errors) == [key] and message in errors[key]
    dataset = make_dataset(1)
    with pytest.raises(ExecutionError, match="Validation error") as caught:
        foo.execute_operator("@vb-plugins/fiftyone/predict", ctx={"view": dataset.view(), "params": {
            "task": "depth", "model": "paint:depth", "output_dir": str(tmp_path / "x"), **params}})
    assert message in str(caught.value)
    assert not (tmp_path / "x").exists()
