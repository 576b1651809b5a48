"""Model profiles: what a checkpoint paints per task and how to ask it; registered through the vb_profiles hook,
chosen by name or file, detected from the model, overridden field by field, refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vb_plugins import hookimpl
from vb_plugins.cli import main
from vb_plugins.errors import InputError, UnknownNameError
from vb_plugins.predict import Predictor
from vb_plugins.profiles import (
    Profile,
    TaskProfile,
    apply_overrides,
    detect_profile,
    get_profile,
    list_profiles,
    read_profile_file,
)
from vb_plugins.registry import Registry
from vb_plugins.settings import RunSettings
from vb_plugins.testing.generators import PaintingGenerator

OVB_DEPTH = "Generate relative inverse depth: near points bright, far points dark, matching input pixels."
E2P_DEPTH = "Transform to depth map while maintaining original composition"


def gray_painter(image, prompt):
    """Paints a left-to-right gray ramp (the near side bright), whatever it is asked."""
    height, width = image.shape[:2]
    ramp = np.linspace(255, 0, width)[None, :].repeat(height, 0)
    return np.repeat(np.rint(ramp)[..., None], 3, axis=2).astype(np.uint8)


def painting(**kwargs) -> PaintingGenerator:
    return PaintingGenerator(gray_painter, megapixels=0.004, **kwargs)


# -- registration ---------------------------------------------------------------------------------------------


def test_built_in_profiles_are_registered_through_the_hook_and_a_plugin_adds_its_own():
    assert list_profiles() == ["vision-banana", "open-vision-banana", "edit2perceive"]

    class Plugin:
        @hookimpl
        def vb_profiles(self):
            return [Profile("my-model", "a fine-tune", tasks=(TaskProfile("depth", "gray depth",
                                                                           decode_as="relative-depth"),))]

    registry = Registry(entry_points=False, plugins=[Plugin()])
    assert registry.names("profile") == ["vision-banana", "open-vision-banana", "edit2perceive", "my-model"]
    assert registry.get("profile", "my-model").entry("depth").decode_as == "relative-depth"


@pytest.mark.parametrize("name", ["vision-banana", "open-vision-banana", "edit2perceive"])
def test_every_built_in_profile_round_trips_through_json(name):
    profile = get_profile(name)
    again = Profile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert again == profile


def test_the_built_ins_say_what_the_open_checkpoints_paint():
    ovb, e2p = get_profile("open-vision-banana"), get_profile("edit2perceive")
    assert ovb.hub_ids == ("FunAILab/Open-Vision-Banana",) and e2p.hub_ids == ("showlab/Edit2Perceive",)
    depth = ovb.entry("depth")
    assert (depth.decode_as, dict(depth.options), depth.prompt) == ("relative-depth", {"encodes": "inverse"}, OVB_DEPTH)
    assert ovb.entry("normals").prompt == "Encode camera-space surface normals in the RGB channels."
    assert e2p.task_names == ["depth", "normals", "matting"]
    assert dict(e2p.entry("depth").options) == {"encodes": "depth"}
    assert e2p.defaults_for(e2p.entry("depth")).size == (768, 768)
    assert e2p.defaults_for(e2p.entry("depth")).steps == 8 and e2p.defaults_for(e2p.entry("matting")).steps == 10
    assert (e2p.weights.naming, e2p.entry("depth").lora_file) == ("diffsynth", "depth_lora.safetensors")


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "tasks": {"depth": {"steps": 0}}}, "task 'depth': steps=0 must be a whole number of at least 1"),
    ({"name": "x", "tasks": {"depth": {"size": [768]}}}, "size must be [height, width]"),
    ({"name": "x", "tasks": {"depth": {"promt": "a"}}}, "unknown field(s) promt; accepted: paints"),
    ({"name": "x", "tasks": {}}, "profile 'x': names no tasks"),
    ({"name": "x", "hub_ids": ["just-a-name"], "other_tasks": True}, "hub_ids must be Hugging Face ids"),
    ({"name": "bad name", "other_tasks": True}, "profile name 'bad name'"),
    ({"tasks": {"depth": {}}}, "needs a \"name\""),
])
def test_a_bad_profile_is_one_line_naming_the_field(data, message):
    with pytest.raises(InputError) as error:
        Profile.from_dict(data)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_profile_is_one_line_listing_the_known_ones():
    with pytest.raises(UnknownNameError, match=r"^unknown profile 'nope'; known: vision-banana, open-vision-banana, "
                                               r"edit2perceive \(or a JSON profile file\)$"):
        RunSettings(profile="nope")


# -- files and overrides --------------------------------------------------------------------------------------


def test_a_profile_file_extends_a_named_one_task_by_task(tmp_path):
    path = tmp_path / "my_ovb.json"
    path.write_text(json.dumps({"extends": "open-vision-banana", "steps": 6,
                                "tasks": {"depth": {"prompt": "Paint inverse depth in gray."},
                                          "semantic": {"options": {"tolerance": 40}}}}))
    profile = read_profile_file(path)
    assert profile.name == "open-vision-banana" and profile.source == str(path)
    assert profile.entry("depth").prompt == "Paint inverse depth in gray."
    assert profile.entry("depth").decode_as == "relative-depth"  # the rest of the task is the base's
    assert profile.entry("normals").prompt == get_profile("open-vision-banana").entry("normals").prompt
    assert dict(profile.entry("semantic").options) == {"tolerance": 40} and profile.defaults.steps == 6
    assert RunSettings(profile=str(path)).profile == str(path.resolve())


def test_a_broken_profile_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match=f"profile file {path}: not valid JSON"):
        read_profile_file(path)
    path.write_text(json.dumps({"extends": "nope"}))
    with pytest.raises(InputError, match="unknown profile 'nope'"):
        read_profile_file(path)
    with pytest.raises(InputError, match="no such file"):
        RunSettings(profile=str(tmp_path / "missing.json"))


def test_overrides_change_one_field_each_and_are_checked_again():
    ovb = get_profile("open-vision-banana")
    changed = apply_overrides(ovb, {"depth.prompt": "Gray inverse depth.", "semantic.options.tolerance": "40",
                                    "steps": "8", "depth.options.near": "bright", "reasoning.decode_as": "referring",
                                    "reasoning.prompt": 'Segment "{expression}".'})
    assert changed.entry("depth").prompt == "Gray inverse depth."
    assert dict(changed.entry("depth").options) == {"encodes": "inverse", "near": "bright"}
    assert dict(changed.entry("semantic").options) == {"tolerance": 40} and changed.defaults.steps == 8
    assert changed.entry("reasoning").decode_as == "referring"  # a task the profile lacked, added
    assert changed.entry("normals") == ovb.entry("normals")
    with pytest.raises(InputError, match=r"profile override depth\.stpes: expected FIELD, TASK\.FIELD"):
        apply_overrides(ovb, {"depth.stpes": "3"})
    with pytest.raises(InputError, match=r"profile override depth\.steps='many': expected a number"):
        apply_overrides(ovb, {"depth.steps": "many"})
    with pytest.raises(InputError, match="steps=0 must be a whole number"):
        apply_overrides(ovb, {"depth.steps": "0"})


# -- detection ------------------------------------------------------------------------------------------------


def test_the_profile_is_detected_from_hub_ids_cache_folders_and_vb_profile_json(tmp_path):
    assert detect_profile("FunAILab/Open-Vision-Banana").name == "open-vision-banana"
    assert detect_profile("funailab/open-vision-banana").name == "open-vision-banana"
    snapshot = tmp_path / "hub" / "models--FunAILab--Open-Vision-Banana" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    assert detect_profile(str(snapshot)).name == "open-vision-banana"
    lora = tmp_path / "hub" / "models--showlab--Edit2Perceive" / "snapshots" / "b" / "depth_lora.safetensors"
    assert detect_profile(str(tmp_path / "kontext"), str(lora)).name == "edit2perceive"
    folder = tmp_path / "my-finetune"
    folder.mkdir()
    (folder / "vb_profile.json").write_text(json.dumps({"extends": "edit2perceive", "name": "my-e2p"}))
    assert detect_profile(str(folder)).name == "my-e2p"
    assert detect_profile(None).name == detect_profile("black-forest-labs/FLUX.2-klein-4B").name == "vision-banana"


# -- what a run does with it ----------------------------------------------------------------------------------


def test_a_run_asks_with_the_profile_wording_and_decodes_with_its_task():
    predictor = Predictor("depth", painting(), profile="open-vision-banana")
    assert predictor.task.name == "relative-depth" and predictor.spec.option("encodes") == "inverse"
    assert predictor.prompts == [OVB_DEPTH]
    prediction = predictor.predict([np.zeros((48, 64, 3), np.uint8)])[0]
    assert prediction.task == "relative-depth" and prediction.values.shape == (48, 64)
    assert prediction.values[:, 0].mean() > 0.9 and prediction.values[:, -1].mean() < 0.1  # near (left) = 1
    assert prediction.settings["profile"] == "open-vision-banana" and prediction.settings["profile_task"] == "depth"
    # the same painting read as Edit2Perceive's depth (near dark) means the opposite
    e2p = Predictor("depth", painting(), profile="edit2perceive", megapixels=0.004)
    assert e2p.prompts == [E2P_DEPTH] and e2p.spec.option("encodes") == "depth"


def test_the_profile_wording_fills_in_classes_and_expressions():
    semantic = Predictor("semantic", painting(), profile="open-vision-banana", classes={"cat": "red", "sky": "blue"})
    assert semantic.prompts == ['Paint the requested object classes with their assigned colors: '
                                '{"cat": "red", "sky": "blue"}.']
    instance = Predictor("instance", painting(), profile="open-vision-banana", classes=["person"])
    assert instance.prompts == ["Segment each person with a different color; leave the background black."]
    referring = Predictor("referring", painting(), profile="open-vision-banana", expression="the red car")
    assert referring.prompts == ['Segment "the red car."']
    # a dialect chosen for the run wins over the profile's wording
    chosen = Predictor("semantic", painting(), profile="open-vision-banana", classes="cat", dialect="zero-shot")
    assert chosen.prompts == [chosen.task.prompt(chosen.spec, "zero-shot")]
    assert chosen.prompts[0].startswith("Turn this photo into a flat-color segmentation map")


def test_the_vision_banana_profile_keeps_todays_prompts_and_tasks():
    generator = painting(dialect="zero-shot")
    predictor = Predictor("depth", generator)
    assert predictor.profile.name == "vision-banana" and predictor.task.name == "depth"
    assert predictor.prompts == [predictor.task.prompt(predictor.spec, "zero-shot")]
    assert Predictor("relative-depth", generator).task.name == "relative-depth"  # any registered task


def test_a_profile_without_the_task_is_one_line_naming_its_tasks():
    with pytest.raises(InputError, match=r"^profile 'edit2perceive' has no task 'semantic'; its tasks: depth, "
                                         r"normals, matting$"):
        Predictor("semantic", painting(), profile="edit2perceive", classes="cat")


def test_profile_generation_defaults_apply_unless_the_run_sets_its_own():
    e2p = Predictor("depth", painting(), profile="edit2perceive")
    assert e2p.generation_settings().steps == 8 and e2p.plan_sizes([np.zeros((30, 50, 3), np.uint8)]) == [(768, 768)]
    assert Predictor("matting", painting(), profile="edit2perceive").generation_settings().steps == 10
    own = Predictor("depth", painting(), profile="edit2perceive", steps=3, megapixels=0.004)
    assert own.generation_settings().steps == 3 and own.plan_sizes([np.zeros((32, 64, 3), np.uint8)]) == [(48, 88)]
    overridden = Predictor("depth", painting(), profile="edit2perceive", profile_overrides={"depth.size": "512x640"})
    assert overridden.plan_sizes([np.zeros((30, 50, 3), np.uint8)]) == [(512, 640)]


def test_a_run_without_the_weights_a_profile_expects_says_so_once():
    bare = Predictor("depth", painting(), profile="edit2perceive")
    assert bare.notices() == ["profile 'edit2perceive' expects the checkpoint's depth weights (depth_lora.safetensors "
                              "or depth.safetensors, with --lora or --transformer-weights); without them the base "
                              "model is not tuned for it"]
    assert Predictor("depth", painting(), profile="open-vision-banana").notices() == []


def test_the_run_signature_names_the_profile_when_it_is_not_the_default():
    assert "profile" not in RunSettings().signature()
    settings = RunSettings(profile="edit2perceive", profile_overrides={"depth.steps": "4"})
    assert settings.signature()["profile"] == "edit2perceive"
    assert settings.signature()["profile_overrides"] == {"depth.steps": "4"}


# -- the command line -----------------------------------------------------------------------------------------


def test_vb_profiles_lists_each_profile_its_tasks_and_what_each_paints(capsys):
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("vision-banana (default): ")
    assert "open-vision-banana: " in out and "edit2perceive: " in out
    assert "  depth      grayscale relative inverse depth: near bright, far dark [decoded as relative-depth with " \
           "encodes=\"inverse\"]" in out
    assert "  matting   alpha matte" in out and "size 768x768" in out
    assert main(["profiles", "edit2perceive", "--json", "--profile-override", "depth.prompt=Depth, please."]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tasks"]["depth"]["prompt"] == "Depth, please." and data["size"] == [768, 768]


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "in" / "room.png"
    path.parent.mkdir()
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("args, message", [
    (["semantic", "--classes", "cat", "--profile", "edit2perceive"],
     "vb predict: error: profile 'edit2perceive' has no task 'semantic'; its tasks: depth, normals, matting"),
    (["depth", "--profile", "nope"], "vb predict: error: unknown profile 'nope'; known: vision-banana, "
                                     "open-vision-banana, edit2perceive (or a JSON profile file)"),
    (["depth", "--profile-override", "depth.stpes=3"], "vb predict: error: profile override depth.stpes: expected"),
    (["depth", "--profile-override", "novalue"], "vb predict: error: --profile-override 'novalue': expected KEY=VALUE"),
])
def test_bad_profile_input_is_one_line_a_failing_exit_and_nothing_written(photo, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    code = main(["predict", args[0], str(photo), "-o", str(out), *args[1:]])
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith(message) and "\n" not in err and "Traceback" not in err
    assert not out.exists()


def test_a_rerun_with_another_profile_is_refused(photo, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", "normals", str(photo), "-o", str(out), "--quiet"]) == 0
    record = json.loads((out / "room.json").read_text())
    assert record["settings"]["profile"] == "vision-banana"
    before = (out / "room.normals.npy").read_bytes()
    capsys.readouterr()
    code = main(["predict", "normals", str(photo), "-o", str(out), "--profile", "open-vision-banana", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "room.json was predicted with" in err and "--overwrite" in err
    assert (out / "room.normals.npy").read_bytes() == before
