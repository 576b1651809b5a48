"""`vb predict` never loses or mixes results: one run per folder, one name per input, no outputs read
back as inputs, one configuration per folder, one whole result set per image. Each refusal is one line,
a non-zero exit, and leaves every existing file as it was."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vb_plugins.cli import main
from vb_plugins.cli.predict_outputs import LOCK_NAME
from vb_plugins.generation.bundled import BUNDLED_DIR


def save_photo(path, seed=0, size=(24, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)).save(path)
    return path


def snapshot(root):
    """Every file under ``root`` (hidden ones included) with its bytes and modification time."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def run(capsys, *args):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def assert_refused(code, err, *phrases):
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vb predict: error: "), err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


@pytest.fixture(scope="module")
def depth_run(tmp_path_factory):
    """A finished bundled-model depth run of one image, copied by tests that try to add to it."""
    root = tmp_path_factory.mktemp("depth_run")
    save_photo(root / "in" / "a.png")
    assert main(["predict", "depth", str(root / "in"), "-o", str(root / "out"), "--quiet"]) == 0
    return root


@pytest.fixture
def finished(depth_run, tmp_path):
    shutil.copytree(depth_run, tmp_path / "run", copy_function=shutil.copy2)
    return tmp_path / "run"


# -- item 5a: one run at a time per output folder --------------------------------------------------------

HOLD_LOCK = """
import sys, time
from vb_plugins.cli.predict_outputs import OutputLock
OutputLock(sys.argv[1], "vb predict normals").__enter__()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_run_into_a_busy_folder_fails_at_once_and_a_dead_runs_lock_does_not_block(finished, capsys):
    out = finished / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(finished)
        began = time.monotonic()
        code, err = run(capsys, "predict", "depth", finished / "in", "-o", out, "--overwrite", "--quiet")
        assert_refused(code, err, f"{out}: another vb predict run is writing there",
                       f"pid {holder.pid}: vb predict normals")
        assert time.monotonic() - began < 60  # refused, not queued behind the other run
        assert snapshot(finished) == before
    finally:
        holder.kill()  # SIGKILL: no clean-up runs, the lock file stays behind
        holder.wait()
    assert (out / LOCK_NAME).is_file()
    assert main(["predict", "depth", str(finished / "in"), "-o", str(out), "--overwrite", "--quiet"]) == 0
    assert not (out / LOCK_NAME).exists()  # released (and removed) when the run ends


# -- item 5b: inputs whose names collide -----------------------------------------------------------------

def test_inputs_that_would_share_output_names_are_refused_naming_them(tmp_path, capsys):
    for k, suffix in enumerate(("jpg", "png", "webp")):
        save_photo(tmp_path / "in" / f"x.{suffix}", seed=k)
    before = snapshot(tmp_path)
    code, err = run(capsys, "predict", "depth", tmp_path / "in", "-o", tmp_path / "out", "--quiet")
    assert_refused(code, err, str(tmp_path / "in" / "x.jpg"), str(tmp_path / "in" / "x.png"),
                   str(tmp_path / "in" / "x.webp"), "would all be saved as")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()
    # Names that differ only in case collide on macOS and Windows folders: refused everywhere alike.
    save_photo(tmp_path / "case" / "Y.png")
    save_photo(tmp_path / "case" / "y.jpg", seed=1)
    code, err = run(capsys, "predict", "depth", tmp_path / "case", "-o", tmp_path / "out", "--quiet")
    assert_refused(code, err, "Y.png", "y.jpg")
    assert not (tmp_path / "out").exists()


def test_the_same_stem_in_two_folders_gives_two_result_sets_and_a_repeated_file_one(tmp_path, capsys):
    first, second = save_photo(tmp_path / "d1" / "x.png"), save_photo(tmp_path / "d2" / "x.png", seed=1)
    code, _ = run(capsys, "predict", "depth", tmp_path / "d1", tmp_path / "d2", first, "-o", tmp_path / "out",
                  "--quiet")
    assert code == 0
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("*.json"))]
    assert sorted(r["input"] for r in records) == sorted([str(first), str(second)])


# -- item 5c: outputs never read back as inputs ----------------------------------------------------------

def test_an_output_folder_that_is_an_input_folder_is_refused(tmp_path, capsys):
    save_photo(tmp_path / "photos" / "a.png")
    before = snapshot(tmp_path)
    code, err = run(capsys, "predict", "depth", tmp_path / "photos", "-o", tmp_path / "photos", "--quiet")
    assert_refused(code, err, f"-o {tmp_path / 'photos'}: is also an input folder", "another folder")
    code, err = run(capsys, "predict", "depth", tmp_path / "photos" / "a.png", "-o", tmp_path / "photos", "--quiet")
    assert_refused(code, err, f"{tmp_path / 'photos' / 'a.png'}: is in the output folder")
    assert snapshot(tmp_path) == before


def test_an_output_folder_inside_the_input_folder_is_not_read_back_on_a_rerun(tmp_path, capsys):
    save_photo(tmp_path / "photos" / "a.png")
    args = ["predict", "depth", tmp_path / "photos", "-o", tmp_path / "photos" / "vb", "--quiet"]
    assert run(capsys, *args)[0] == 0
    before = snapshot(tmp_path)
    code, err = run(capsys, *args)
    assert code == 0 and "skipping 1 image(s)" in err
    assert snapshot(tmp_path) == before  # no a.generated.generated.png and the like


# -- item 5d: a rerun with other settings ----------------------------------------------------------------

@pytest.mark.parametrize("options, setting", [
    (["--seed", "1"], "seed"),
    (["--ensemble", "2"], "ensemble"),
    (["--steps", "3"], "steps"),
    (["--megapixels", "0.01"], "megapixels"),
    (["--guidance", "2"], "guidance"),
    (["--scheme", "plasma"], "scheme"),
    (["--dialect", "zero-shot"], "dialect"),
    (["--model", "COPY"], "model"),
])
def test_a_rerun_with_other_settings_is_refused_naming_the_setting(finished, capsys, options, setting):
    if options == ["--model", "COPY"]:  # the same weights under another name are another model
        shutil.copytree(BUNDLED_DIR, finished / "other-model")
        options = ["--model", finished / "other-model"]
    (finished / "in" / "b.png").write_bytes((finished / "in" / "a.png").read_bytes())  # a new image too
    before = snapshot(finished)
    code, err = run(capsys, "predict", "depth", finished / "in", "-o", finished / "out", "--quiet", *options)
    assert_refused(code, err, f"{finished / 'out'}: a.json was predicted with {setting} ", "--overwrite",
                   "another -o")
    assert snapshot(finished) == before


def test_a_rerun_with_the_same_settings_skips_what_is_done(finished, capsys):
    save_photo(finished / "in" / "b.png", seed=1)
    before = snapshot(finished / "out")
    code, err = run(capsys, "predict", "depth", finished / "in", "-o", finished / "out", "--quiet",
                    "--model", "bundled", "--steps", "2")  # the defaults, spelled out
    assert code == 0 and "skipping 1 image(s)" in err
    after = snapshot(finished / "out")
    assert {k: v for k, v in after.items() if k in before} == before and "b.json" in after


# -- item 5e: --overwrite leaves exactly one result set; interrupted writes leave none half-done ----------

def result_files(out, stem):
    return sorted(p.name for p in out.iterdir() if p.name.startswith(stem + "."))


def test_overwrite_with_a_smaller_ensemble_or_another_task_leaves_one_consistent_result_set(tmp_path, capsys):
    save_photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    base = ["predict", "depth", tmp_path / "in", "-o", out, "--quiet"]
    assert run(capsys, *base, "--ensemble", "3")[0] == 0
    assert {"a.generated-1.png", "a.generated-2.png", "a.uncertainty.npy"} <= set(result_files(out, "a"))
    assert run(capsys, *base, "--overwrite")[0] == 0
    record = json.loads((out / "a.json").read_text())
    assert result_files(out, "a") == record["outputs"] == [
        "a.confidence.npy", "a.depth.npy", "a.depth.png", "a.expected_error.npy", "a.generated.png", "a.json",
        "a.preview.png"]
    assert record["settings"]["ensemble"] == 1
    # Without a preview this time: the old set's preview goes too.
    assert run(capsys, "predict", "normals", tmp_path / "in", "-o", out, "--quiet", "--overwrite",
               "--no-preview")[0] == 0
    assert result_files(out, "a") == [
        "a.confidence.npy", "a.expected_error.npy", "a.generated.png", "a.json", "a.normals.npy", "a.normals.png"]
    assert sorted(p.name for p in out.iterdir()) == result_files(out, "a")  # no lock, no staging left


def test_an_interrupted_overwrite_keeps_the_previous_result_set_whole(finished, monkeypatch, capsys):
    import vb_plugins.io

    write_npy = vb_plugins.io.write_npy

    def interrupted_on_confidence(path, array, *args, **kwargs):
        if path.name.endswith(".confidence.npy"):
            raise KeyboardInterrupt
        return write_npy(path, array, *args, **kwargs)

    monkeypatch.setattr(vb_plugins.io, "write_npy", interrupted_on_confidence)
    before = snapshot(finished)
    code, err = run(capsys, "predict", "depth", finished / "in", "-o", finished / "out", "--quiet", "--overwrite",
                    "--seed", "4")
    assert code == 130 and "interrupted" in err
    assert snapshot(finished) == before  # the old set untouched: no new file moved in, no staging left


def test_an_interruption_while_files_move_into_place_makes_the_rerun_redo_the_image(finished, monkeypatch, capsys):
    import vb_plugins.cli.predict_outputs as outputs

    replace = outputs.os.replace

    out = finished / "out"

    def interrupted_on_record(source, target):
        if Path(target) == out / "a.json":  # the record's move into place, not its staged write
            raise KeyboardInterrupt
        return replace(source, target)

    monkeypatch.setattr(outputs.os, "replace", interrupted_on_record)
    code, _ = run(capsys, "predict", "depth", finished / "in", "-o", out, "--quiet", "--overwrite", "--ensemble", "2")
    assert code == 130 and not (out / "a.json").exists()  # no record: nothing claims to be done
    monkeypatch.setattr(outputs.os, "replace", replace)
    code, err = run(capsys, "predict", "depth", finished / "in", "-o", out, "--quiet", "--ensemble", "2")
    assert code == 0 and "skipping" not in err
    record = json.loads((out / "a.json").read_text())
    assert record["settings"]["ensemble"] == 2 and result_files(out, "a") == record["outputs"]


# -- item 10: the bundled model is honest about what it can do ---------------------------------------------

@pytest.mark.parametrize("task, options", [
    ("semantic", ["--classes", "cat, sky"]),
    ("instance", ["--classes", "cat"]),
    ("referring", ["--expression", "the cat"]),
])
def test_the_bundled_model_refuses_tasks_it_was_never_trained_on(tmp_path, capsys, task, options):
    save_photo(tmp_path / "a.png")
    before = snapshot(tmp_path)
    code, err = run(capsys, "predict", task, tmp_path / "a.png", "-o", tmp_path / "out", *options)
    assert_refused(code, err, f"task {task!r}: the bundled model (vb-small) paints depth and normals only",
                   "diffusers image-editing pipeline", "Gemini")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_the_python_api_refuses_the_same_tasks():
    from vb_plugins.errors import ModelError
    from vb_plugins.predict import Predictor

    with pytest.raises(ModelError, match="paints depth and normals only"):
        Predictor("semantic", classes="cat, sky").predict([np.zeros((16, 16, 3), np.uint8)])


def test_the_bundled_model_prints_one_demonstration_note_per_run(tmp_path, capsys):
    for k in range(3):
        save_photo(tmp_path / "in" / f"p{k}.png", seed=k)
    code, err = run(capsys, "predict", "normals", tmp_path / "in", "-o", tmp_path / "out")
    notes = [line for line in err.splitlines() if "demonstration, not estimates" in line]
    assert code == 0 and len(notes) == 1 and notes[0].startswith("vb predict: note: the bundled model (vb-small)")
    shutil.copytree(BUNDLED_DIR, tmp_path / "trained")  # any other VBNet is the user's own model
    code, err = run(capsys, "predict", "normals", tmp_path / "in", "-o", tmp_path / "out2", "--model",
                    tmp_path / "trained")
    assert code == 0 and "demonstration" not in err


# -- item 14: dtypes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float8", "float8_e4m3fn", "int8", "float64"])
def test_a_dtype_the_vbnet_cannot_use_is_refused(tmp_path, capsys, dtype):
    save_photo(tmp_path / "a.png")
    before = snapshot(tmp_path)
    code, err = run(capsys, "predict", "depth", tmp_path / "a.png", "-o", tmp_path / "out", "--dtype", dtype)
    assert_refused(code, err, f"dtype {dtype!r}: expected float32, bfloat16, float16")
    assert snapshot(tmp_path) == before


def test_a_dtype_the_vbnet_can_use_is_used_not_ignored():
    import torch

    from vb_plugins.generation import load_generator
    from vb_plugins.predict import Predictor

    generator = load_generator("bundled", device="cpu", dtype="bfloat16")
    assert {p.dtype for p in generator.model.parameters()} == {torch.bfloat16}
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    half = Predictor("depth", generator).predict([image])[0].visualization
    full = Predictor("depth", load_generator("bundled", device="cpu")).predict([image])[0].visualization
    difference = np.abs(half.astype(int) - full)
    assert 0 < difference.mean() < 4  # computed in bfloat16: close to float32, not the same bits


# -- the traceback list: bad numbers, devices and models ---------------------------------------------------

@pytest.mark.parametrize("options, message", [
    (["--steps", "-5"], "steps=-5: must be a whole number of at least 1"),
    (["--steps", "0"], "steps=0: must be a whole number of at least 1"),
    (["--megapixels", "-1"], "megapixels=-1.0: must be a number above 0 and at most 16"),
    (["--megapixels", "nan"], "megapixels=nan: must be a number above 0"),
    (["--megapixels", "1e9"], "megapixels=1000000000.0: must be a number above 0 and at most 16"),
    (["--guidance", "inf"], "guidance=inf: must be a finite number"),
    (["--batch-size", "0"], "batch_size=0: must be at least 1"),
    (["--ensemble", "0"], "ensemble=0: must be at least 1"),
    (["--device", "potato"], "device 'potato': expected cpu, cuda, cuda:N, mps or xpu"),
    (["--device", "CUDA_NOT_HERE"], "this machine has"),
    (["--model", "./nope"], "model './nope': no such directory"),
    (["--model", "../nope/model"], "model '../nope/model': no such directory"),
])
def test_bad_options_are_one_line_errors_before_anything_is_written(tmp_path, monkeypatch, capsys, options,
                                                                    message):
    import torch

    if options == ["--device", "CUDA_NOT_HERE"]:  # "cuda" where there is none, else a GPU number past the last
        options = ["--device", f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"]
    save_photo(tmp_path / "a.png")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code, err = run(capsys, "predict", "depth", "a.png", "-o", "out", *options)
    assert_refused(code, err, message)
    assert "Repo id" not in err
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_a_gpu_number_past_the_last_one_is_refused(monkeypatch):
    """The machine's GPUs are what is simulated here: this check must hold on a GPU machine too."""
    import torch

    from vb_plugins.errors import InputError
    from vb_plugins.generation.bundled import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == "cuda:1" and check_device("cuda") == "cuda"
    with pytest.raises(InputError, match=r"device 'cuda:2': this machine has 2 CUDA device\(s\), numbered from 0"):
        check_device("cuda:2")


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("breakage, message", [
    (lambda m: truncate(m / "model.safetensors"), "model.safetensors: not a readable safetensors file"),
    (lambda m: (m / "model.safetensors").write_bytes(bytes(range(256)) * 20), "not a readable safetensors file"),
    (lambda m: (m / "vb_model.json").write_text("[1, 2]"), 'vb_model.json: expected a JSON object with a "config"'),
    (lambda m: (m / "vb_model.json").write_text("{oops"), "vb_model.json: not readable JSON"),
    (lambda m: (m / "vb_model.json").write_text(json.dumps({"config": {"resolution": "big"}})),
     "vb_model.json: config.resolution must be an integer, got 'big'"),
    (lambda m: (m / "vb_model.json").write_text(json.dumps({"config": {"channels": [8, 16]}})),
     "model.safetensors: weights do not fit the architecture in vb_model.json"),
])
def test_a_broken_vbnet_model_folder_is_a_one_line_error(tmp_path, capsys, breakage, message):
    shutil.copytree(BUNDLED_DIR, tmp_path / "model")
    breakage(tmp_path / "model")
    save_photo(tmp_path / "a.png")
    before = snapshot(tmp_path)
    code, err = run(capsys, "predict", "depth", tmp_path / "a.png", "-o", tmp_path / "out", "--model",
                    tmp_path / "model")
    assert_refused(code, err, message)
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_the_command_itself_prints_one_line_for_a_missing_model_folder(tmp_path):
    save_photo(tmp_path / "a.png")
    result = subprocess.run([sys.executable, "-m", "vb_plugins.cli", "predict", "depth", "a.png", "-o", "out",
                             "--model", "./nope"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "vb predict: error: model './nope': no such directory (no generator backend " \
                                    "recognises it)"
    assert not (tmp_path / "out").exists()
