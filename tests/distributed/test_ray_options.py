"""RayOptions (where a run goes) beside RunSettings (what it computes), and the settings a worker rebuilds.
No Ray is started here."""

from __future__ import annotations

import pickle

import pytest

from vb_plugins.cli import build_parser, main
from vb_plugins.cli.predict_ray import ray_options
from vb_plugins.distributed import predict as distributed_predict
from vb_plugins.distributed.options import RAY_OPTIONS, RayOptions
from vb_plugins.distributed.worker import build_predictor
from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.ray_runner import parse_engine_params
from vb_plugins.registry import get_task
from vb_plugins.settings import SETTINGS, RunSettings


def test_placement_is_no_run_setting_so_no_signature_or_record_holds_it():
    assert set(RAY_OPTIONS).isdisjoint(SETTINGS)
    settings = RunSettings(seed=2)
    assert settings.signature() == RunSettings(seed=2).signature()  # whatever RayOptions a run uses


def test_bad_ray_options_are_one_line_errors_naming_the_option():
    cases = [(dict(workers=0), "workers=0: must be a whole number of at least 1"),
             (dict(workers=True), "workers=True"),
             (dict(gpus_per_worker=float("nan")), "gpus_per_worker=nan: must be a number of at least 0"),
             (dict(cpus_per_worker=-1), "cpus_per_worker=-1"),
             (dict(cpus_per_worker=0), "cpus_per_worker=0 needs gpus_per_worker above 0"),
             (dict(address=6379), "ray address 6379: expected text")]
    for options, message in cases:
        with pytest.raises(InputError, match=message) as caught:
            RayOptions(**options)
        assert len(str(caught.value).splitlines()) == 1
    assert RayOptions(address="  ").address is None  # blank: RAY_ADDRESS, else a local Ray
    assert RayOptions.of(RayOptions(workers=2), gpus_per_worker=1) == RayOptions(workers=2, gpus_per_worker=1)
    with pytest.raises(InputError, match="workers=-1"):
        RayOptions.of(RayOptions(workers=2), workers=-1)


def test_the_command_line_options_are_generated_from_the_declarations():
    parser = build_parser()
    args = parser.parse_args(["predict", "depth", "in", "-o", "out", "--ray", "auto", "--workers", "3",
                              "--gpus-per-worker", "0.5", "--cpus-per-worker", "2", "--seed", "4"])
    assert ray_options(args) == RayOptions(address="auto", workers=3, gpus_per_worker=0.5, cpus_per_worker=2)
    bare = parser.parse_args(["predict", "depth", "in", "-o", "out", "--ray"])
    assert ray_options(bare) == RayOptions()
    text = " ".join(parser._subparsers._group_actions[0].choices["predict"].format_help().split())
    for name, declared in RAY_OPTIONS.items():
        if name != "address":
            assert f"--{name.replace('_', '-')} {name.upper()} {declared.metadata['help']}" in text
    assert "--batch-size is also the images an actor takes at a time" in text


def test_the_operator_params_give_ray_options_or_errors_under_their_names():
    engine, ray, errors = parse_engine_params({"engine": "ray", "ray_address": " auto ", "workers": "3",
                                               "gpus_per_worker": 0.5, "cpus_per_worker": ""})
    assert (engine, ray, errors) == ("ray", RayOptions(address="auto", workers=3, gpus_per_worker=0.5), {})
    _, ray, errors = parse_engine_params({"engine": "ray", "workers": "two", "gpus_per_worker": -1})
    assert ray is None and errors == {"workers": "workers='two': expected a whole number of at least 1",
                                      "gpus_per_worker": "gpus_per_worker=-1: expected a number of at least 0"}
    _, ray, errors = parse_engine_params({"engine": "ray", "cpus_per_worker": 0})
    assert ray is None and errors == {"cpus_per_worker": "cpus_per_worker=0 needs gpus_per_worker above 0 (a worker "
                                                         "must hold some resource)"}
    _, _, errors = parse_engine_params({"cpus_per_worker": 2})
    assert errors["engine"].endswith("need engine 'ray'")


def test_a_worker_rebuilds_the_runs_settings_from_their_dict(tmp_path):
    weights = tmp_path / "w.safetensors"
    settings = RunSettings(seed=9, ensemble=3, steps=2, guidance=1.5, megapixels=0.25, batch_size=2,
                           decode_mode="robust", transformer_weights=str(weights),
                           generator_options={"variant": "fp16"})
    spec = get_task("semantic").make_spec(classes="sky, road")
    shipped = pickle.loads(pickle.dumps(settings.to_dict()))  # what Ray sends

    predictor = build_predictor("semantic", spec, shipped)

    assert predictor.settings == settings and predictor.spec == spec
    assert predictor.settings.signature() == settings.signature()
    with pytest.raises(InputError, match="unknown setting"):
        build_predictor("depth", None, {**settings.to_dict(), "workers": 2})


@pytest.mark.parametrize("flags, named", [
    (["--prompt", "Paint the cup in white."], "--prompt"),
    (["--no-preview"], "--no-preview"),
    (["--preview-range", "1,5"], "--preview-range"),
    (["--expression", "x", "--query", "what keeps food cold", "--rewriter", "gemini:m"], "--query"),
])
def test_what_workers_would_ignore_is_refused_before_ray_starts(tmp_path, capsys, flags, named):
    image = tmp_path / "a.png"
    image.write_bytes(b"")  # never read: the refusal comes first
    out = tmp_path / "out"
    assert main(["predict", "referring", str(image), "-o", str(out), "--ray", *flags]) == 1
    assert capsys.readouterr().err.strip() == \
        f"vb predict: error: --ray: not with {named} (the single-process engine only, for now)"
    assert not out.exists()


def test_a_vision_language_model_is_refused_by_the_ray_engine(tmp_path):
    with pytest.raises(InputError, match=r"^ray: rewriter: runs in the single-process engine only"):
        distributed_predict("referring", [str(tmp_path)], tmp_path / "out", expression="the cup",
                            rewriter="gemini:m")
    assert not (tmp_path / "out").exists()
